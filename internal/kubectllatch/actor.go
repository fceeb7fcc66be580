package kubectllatch

import (
	"context"
	"errors"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// kubeconfigActorPrefix marks an actor the API server did not vouch for: the kubeconfig's
// name for its user, which is a local label, not an authenticated identity. The audit log
// says so rather than passing one off as the other.
const kubeconfigActorPrefix = "kubeconfig-user:"

// Actor is the name latch admin's audit events give the caller: the username the API server
// authenticated (a SelfSubjectReview, which every authenticated user may create), so the
// audit log names who really acted, whatever the kubeconfig calls them. When the cluster does
// not serve SelfSubjectReview (before Kubernetes 1.28) or refuses it, the kubeconfig user
// name stands in, marked as such.
func Actor(ctx context.Context, core kubernetes.Interface, kubeconfigUser string) (string, error) {
	review, err := core.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err == nil && review.Status.UserInfo.Username != "" {
		return review.Status.UserInfo.Username, nil
	}
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) && !apierrors.IsMethodNotSupported(err) {
		return "", fmt.Errorf("who am I (SelfSubjectReview): %w", err)
	}
	if kubeconfigUser == "" {
		if err == nil {
			err = errors.New("the API server named no user")
		}
		return "", fmt.Errorf("who am I: no SelfSubjectReview (%v) and no kubeconfig user name", err)
	}
	return kubeconfigActorPrefix + kubeconfigUser, nil
}
