package devstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const (
	controlPlaneStartTimeout = 90 * time.Second
	controlPlaneStopTimeout  = 15 * time.Second
)

// startControlPlane starts etcd and kube-apiserver with envtest, their output in a log file
// (it says little a user of the stack wants to see), and writes an admin kubeconfig.
func startControlPlane(assets, dir string) (*envtest.Environment, *rest.Config, string, error) {
	logPath := filepath.Join(dir, "control-plane.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, "", fmt.Errorf("open the control plane log: %w", err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: controlPlaneStartTimeout,
		ControlPlaneStopTimeout:  controlPlaneStopTimeout,
	}
	env.ControlPlane.APIServer = &envtest.APIServer{Out: logFile, Err: logFile}
	env.ControlPlane.Etcd = &envtest.Etcd{Out: logFile, Err: logFile}
	// envtest reads the assets from KUBEBUILDER_ASSETS over BinaryAssetsDirectory; the two
	// agree whenever both are set, because both come from hack/tools.sh.
	if _, err := env.Start(); err != nil {
		_ = logFile.Close()
		return nil, nil, "", fmt.Errorf("start etcd and kube-apiserver from %s (log: %s): %w", assets, logPath, err)
	}
	user, err := env.AddUser(envtest.User{Name: "devstack-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		_ = env.Stop()
		return nil, nil, "", fmt.Errorf("create the admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		_ = env.Stop()
		return nil, nil, "", fmt.Errorf("write the admin kubeconfig: %w", err)
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		_ = env.Stop()
		return nil, nil, "", fmt.Errorf("write the admin kubeconfig: %w", err)
	}
	return env, user.Config(), path, nil
}

// serviceAccountToken keeps a kubeconfig whose user is a ServiceAccount, so the operator
// runs with exactly the permissions the chart grants it, as in a cluster. The token lives in
// a file the kubeconfig names (client-go re-reads it), renewed long before it expires.
type serviceAccountToken struct {
	cs         kubernetes.Interface
	namespace  string
	name       string
	tokenPath  string
	Kubeconfig string
	expires    time.Time
}

// tokenLifetime is what the token is requested for; it is renewed at half of it.
const tokenLifetime = 24 * time.Hour

func newServiceAccountKubeconfig(ctx context.Context, admin *rest.Config, namespace, name, dir string) (*serviceAccountToken, error) {
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return nil, fmt.Errorf("client for tokens: %w", err)
	}
	t := &serviceAccountToken{
		cs: cs, namespace: namespace, name: name,
		tokenPath:  filepath.Join(dir, "operator.token"),
		Kubeconfig: filepath.Join(dir, "operator.kubeconfig"),
	}
	if t.expires, err = t.renew(ctx); err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["devstack"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: admin.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{TokenFile: t.tokenPath}
	cfg.Contexts["devstack"] = &clientcmdapi.Context{Cluster: "devstack", AuthInfo: name, Namespace: namespace}
	cfg.CurrentContext = "devstack"
	if err := clientcmd.WriteToFile(*cfg, t.Kubeconfig); err != nil {
		return nil, fmt.Errorf("write the operator kubeconfig: %w", err)
	}
	return t, nil
}

// renew writes a fresh token and returns when it expires.
func (t *serviceAccountToken) renew(ctx context.Context) (time.Time, error) {
	// The ServiceAccount is the chart's, created by helm install just before; a retry covers
	// an apiserver that has not caught up with it yet.
	var tr *authenticationv1.TokenRequest
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		tr, err = t.cs.CoreV1().ServiceAccounts(t.namespace).CreateToken(ctx, t.name, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(tokenLifetime / time.Second))},
		}, metav1.CreateOptions{})
		if err == nil || !apierrors.IsNotFound(err) {
			break
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("request a token for ServiceAccount %s/%s (created by the chart): %w", t.namespace, t.name, err)
	}
	if err := os.WriteFile(t.tokenPath, []byte(tr.Status.Token), 0o600); err != nil {
		return time.Time{}, fmt.Errorf("write the operator token: %w", err)
	}
	return tr.Status.ExpirationTimestamp.Time, nil
}

// keepFresh renews the token at half its remaining life until ctx ends.
func (t *serviceAccountToken) keepFresh(ctx context.Context, log *syncWriter) {
	expires := t.expires
	for {
		wait := max(time.Until(expires)/2, time.Minute)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		e, err := t.renew(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.logf("renew the operator's token: %v", err)
			continue
		}
		expires = e
	}
}
