package kubectllatch

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kl-"}}
	if err := k8s.Create(t.Context(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return ns.Name
}

// createRealm creates a realm and sets the status the operator would report.
func createRealm(t *testing.T, ns, name string, replicas int32, status authv1.AuthRealmStatus) *authv1.AuthRealm {
	t.Helper()
	r := &authv1.AuthRealm{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: authv1.AuthRealmSpec{
			Replicas:  ptr.To(replicas),
			Protocols: authv1.ProtocolsSpec{Account: &authv1.AccountSpec{}},
		},
	}
	if err := k8s.Create(t.Context(), r); err != nil {
		t.Fatalf("create realm: %v", err)
	}
	if status.Selector == "" {
		status.Selector = ServerSelector(name).String()
	}
	status.ObservedGeneration = r.Generation
	for i := range status.Conditions {
		status.Conditions[i].ObservedGeneration = r.Generation
		status.Conditions[i].LastTransitionTime = metav1.Now()
	}
	r.Status = status
	if err := k8s.Status().Update(t.Context(), r); err != nil {
		t.Fatalf("realm status: %v", err)
	}
	return r
}

func cond(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: reason}
}

// podSpec describes a server pod as the operator's Deployment would run it.
type podSpec struct {
	name, realm, image, config, hash string
	phase                            corev1.PodPhase
	ready                            bool
}

// createServerPod creates a realm's server pod with the operator's labels, container and
// arguments, and the status a kubelet would report.
func createServerPod(t *testing.T, ns string, s podSpec) *corev1.Pod {
	t.Helper()
	if s.image == "" {
		s.image = "example.test/latch:v1.0.0"
	}
	if s.config == "" {
		s.config = "/etc/latch/config/config.json"
	}
	if s.phase == "" {
		s.phase = corev1.PodRunning
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: s.name, Namespace: ns,
			Labels:      map[string]string{serverNameLabel: serverNameValue, instanceLabel: s.realm, "latch.dev/realm": s.realm},
			Annotations: map[string]string{authv1.ConfigHashAnnotation: s.hash},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: serverContainer, Image: s.image, Args: []string{"server", "--config", s.config},
		}}},
	}
	if err := k8s.Create(t.Context(), p); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	readyStatus := corev1.ConditionFalse
	state := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	if s.phase == corev1.PodRunning {
		state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
	}
	if s.ready {
		readyStatus = corev1.ConditionTrue
	}
	p.Status = corev1.PodStatus{
		Phase:             s.phase,
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: readyStatus, LastTransitionTime: metav1.Now()}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: serverContainer, Image: s.image, Ready: s.ready, State: state}},
	}
	if err := k8s.Status().Update(t.Context(), p); err != nil {
		t.Fatalf("pod status: %v", err)
	}
	return p
}

// addUser is a user the API server authenticates by a client certificate, with no rights
// but those of every authenticated user unless given groups or roles.
func addUser(t *testing.T, name string, groups ...string) *rest.Config {
	t.Helper()
	u, err := testEnv.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		t.Fatalf("add user %s: %v", name, err)
	}
	return u.Config()
}

// bind grants user the role in ns.
func bind(t *testing.T, ns string, role *rbacv1.Role, user string) {
	t.Helper()
	role = role.DeepCopy()
	role.Namespace = ns
	if err := k8s.Create(t.Context(), role); err != nil {
		t.Fatalf("create role: %v", err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name + "-" + user, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}},
	}
	if err := k8s.Create(t.Context(), rb); err != nil {
		t.Fatalf("create role binding: %v", err)
	}
}

// kubeconfig writes a kubeconfig file: context "envtest" (namespace ns) reaches the API
// server as cfg's user, stored under the kubeconfig user name authInfo; context "broken"
// points at a closed port. The current context is current.
func kubeconfig(t *testing.T, cfg *rest.Config, authInfo, ns, current string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.Clusters["broken"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[authInfo] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: authInfo, Namespace: ns}
	kc.Contexts["broken"] = &clientcmdapi.Context{Cluster: "broken", AuthInfo: authInfo, Namespace: ns}
	kc.CurrentContext = current
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	// Nothing of the machine's own kubeconfig may leak in.
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	return path
}

// result is one run of the plugin.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the plugin in process with args and the executor exec (nil: pods/exec).
func run(t *testing.T, exec Executor, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errOut}
	if exec != nil {
		env.NewExecutor = func(*Cluster) Executor { return exec }
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	code := Main(ctx, args, env)
	return result{code, out.String(), errOut.String()}
}

// recorder is an Executor that records what it was asked to run and exits with code.
type recorder struct {
	target Target
	argv   []string
	calls  int
	code   int
}

func (r *recorder) Exec(_ context.Context, t Target, argv []string, _ io.Reader, _, _ io.Writer) (int, error) {
	r.target, r.argv = t, argv
	r.calls++
	return r.code, nil
}
