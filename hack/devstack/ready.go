package devstack

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/internal/childproc"
)

// poll calls check every period until it reports done or ctx ends; the error then carries
// check's last word on what it waits for.
func poll(ctx context.Context, period time.Duration, check func() (bool, string)) error {
	return childproc.Poll(ctx, period, func(context.Context) error {
		if ok, why := check(); !ok {
			return errors.New(why)
		}
		return nil
	})
}

// WaitReady waits until the dev realm is Ready at its current generation with the config
// hash its Deployment runs, every replica of the Deployment runs its current pod template and
// is ready, and every DeviceClient of the manifests is Ready at its current generation.
// After an edit of the realm, it returns once the roll is over.
func (s *Stack) WaitReady(ctx context.Context) error {
	return poll(ctx, 200*time.Millisecond, func() (bool, string) { return s.readiness(ctx) })
}

func (s *Stack) readiness(ctx context.Context) (bool, string) {
	realm := &authv1.AuthRealm{}
	if err := s.client.Get(ctx, s.Realm, realm); err != nil {
		return false, fmt.Sprintf("AuthRealm %s: %v", s.Realm, err)
	}
	ready := meta.FindStatusCondition(realm.Status.Conditions, authv1.ConditionReady)
	switch {
	case ready == nil:
		return false, fmt.Sprintf("AuthRealm %s has no Ready condition yet (is the operator running? its output is above)", s.Realm)
	case realm.Status.ObservedGeneration != realm.Generation || ready.ObservedGeneration != realm.Generation:
		return false, fmt.Sprintf("AuthRealm %s: generation %d not observed yet (status is of %d)", s.Realm, realm.Generation, realm.Status.ObservedGeneration)
	case ready.Status != metav1.ConditionTrue:
		return false, fmt.Sprintf("AuthRealm %s not Ready: %s: %s", s.Realm, ready.Reason, ready.Message)
	}
	// The realm's Deployment is the one in its namespace that the server selector selects and
	// the realm owns.
	var deps appsv1.DeploymentList
	if err := s.client.List(ctx, &deps, client.InNamespace(s.Realm.Namespace), ServerSelector); err != nil {
		return false, fmt.Sprintf("list Deployments: %v", err)
	}
	var d *appsv1.Deployment
	for i := range deps.Items {
		if metav1.IsControlledBy(&deps.Items[i], realm) {
			d = &deps.Items[i]
		}
	}
	if d == nil {
		return false, fmt.Sprintf("AuthRealm %s has no server Deployment", s.Realm)
	}
	if h := d.Spec.Template.Annotations[configHashAnnotation]; realm.Status.ConfigHash != h {
		return false, fmt.Sprintf("AuthRealm %s reports config hash %s, its Deployment runs %s", s.Realm, shortHash(realm.Status.ConfigHash), shortHash(h))
	}
	want, hash := deploymentReplicas(d), templateHash(&d.Spec.Template)
	reps := s.kubelet.replicas(types.NamespacedName{Namespace: d.Namespace, Name: d.Name})
	if len(reps) != want {
		return false, fmt.Sprintf("%d/%d replicas of Deployment %s/%s run", len(reps), want, d.Namespace, d.Name)
	}
	for _, r := range reps {
		if r.TemplateHash != hash || !r.Ready {
			return false, fmt.Sprintf("replica %d of Deployment %s/%s: ready %t, on the current pod template %t (its output is above)", r.Index, d.Namespace, d.Name, r.Ready, r.TemplateHash == hash)
		}
	}
	for _, name := range kindNames(s.manifest, "DeviceClient") {
		ns, n, _ := strings.Cut(name, "/")
		dc := &authv1.DeviceClient{}
		if err := s.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: n}, dc); err != nil {
			return false, fmt.Sprintf("DeviceClient %s: %v", name, err)
		}
		c := meta.FindStatusCondition(dc.Status.Conditions, "Ready")
		switch {
		case c == nil || dc.Status.ObservedGeneration != dc.Generation:
			return false, fmt.Sprintf("DeviceClient %s not reconciled yet", name)
		case c.Status != metav1.ConditionTrue:
			return false, fmt.Sprintf("DeviceClient %s not Ready: %s: %s", name, c.Reason, c.Message)
		}
	}
	return true, ""
}

// Control plane health: the stack fails once the API server has not answered its /readyz
// for controlPlaneFailures checks in a row.
const (
	controlPlaneCheckPeriod = 2 * time.Second
	controlPlaneFailures    = 5
)

// watchControlPlane fails the stack when the API server stops answering. Nothing works
// without it, and it dies with no one to restart it (envtest does not), so a stack that
// looked alive without it would only mislead.
func (s *Stack) watchControlPlane(ctx context.Context) {
	cs, err := kubernetes.NewForConfig(s.admin)
	if err != nil {
		s.fail(fmt.Errorf("client of the control plane: %w", err))
		return
	}
	failures := 0
	t := time.NewTicker(controlPlaneCheckPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		check, cancel := context.WithTimeout(ctx, controlPlaneCheckPeriod)
		err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(check).Error()
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			failures = 0
		default:
			failures++
			if failures == controlPlaneFailures {
				s.fail(fmt.Errorf("the control plane stopped answering (log: %s): %w", filepath.Join(s.WorkDir, "control-plane.log"), err))
				return
			}
		}
	}
}

// fail records the first error that ends the stack's usefulness.
func (s *Stack) fail(err error) {
	s.failOnce.Do(func() {
		s.failErr = err
		s.log.logf("FAILED: %v", err)
		close(s.failed)
	})
}

// Failed is closed when the stack can no longer work (its control plane is gone); Err then
// says why. The stack still has to be stopped.
func (s *Stack) Failed() <-chan struct{} { return s.failed }

// Err is why the stack failed, nil while it has not.
func (s *Stack) Err() error {
	select {
	case <-s.failed:
		return s.failErr
	default:
		return nil
	}
}
