package kubectllatch

import (
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// The actor is the name the API server authenticated, not what the kubeconfig calls the user.
func TestActorIsTheAuthenticatedUser(t *testing.T) {
	cfg := addUser(t, "ada@ops.example", "ops")
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Actor(t.Context(), core, "laptop-admin")
	if err != nil || got != "ada@ops.example" {
		t.Errorf("actor %q, %v; want ada@ops.example (from the SelfSubjectReview)", got, err)
	}
}

// A cluster without SelfSubjectReview, or refusing it, gets the kubeconfig user name, marked
// as not vouched for; any other failure is an error, not a guess.
func TestActorFallsBackToTheKubeconfigUser(t *testing.T) {
	review := schema.GroupResource{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}
	for _, tc := range []struct {
		name      string
		err       error
		user      string
		want, bad string
	}{
		{"not served", apierrors.NewNotFound(review, ""), "laptop-admin", "kubeconfig-user:laptop-admin", ""},
		{"forbidden", apierrors.NewForbidden(review, "", errors.New("no")), "laptop-admin", "kubeconfig-user:laptop-admin", ""},
		{"not served, no kubeconfig user", apierrors.NewNotFound(review, ""), "", "", "no kubeconfig user name"},
		{"server error", apierrors.NewInternalError(errors.New("etcd is down")), "laptop-admin", "", "etcd is down"},
	} {
		core := fake.NewClientset()
		core.PrependReactor("create", "selfsubjectreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, tc.err
		})
		got, err := Actor(t.Context(), core, tc.user)
		switch {
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%s: %q, %v; want an error saying %q", tc.name, got, err, tc.bad)
		case tc.bad == "" && (err != nil || got != tc.want):
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// The command line run in the pod, from a kubeconfig as kubectl reads it: the context's
// namespace, --context over the current one, -n over the context's; the pod's config path,
// the authenticated actor, the audit log in the pod's log stream, -o hoisted before the
// command and the command as typed.
func TestCommandLineFromKubeconfig(t *testing.T) {
	ns := newNamespace(t)
	other := newNamespace(t)
	createRealm(t, ns, "dev", 1, authv1.AuthRealmStatus{})
	createServerPod(t, ns, podSpec{name: "dev-1", realm: "dev", ready: true, config: "/etc/latch/config/config.json"})
	// The kubeconfig calls the user laptop-admin; the API server knows her as ada@ops.example.
	kc := kubeconfig(t, addUser(t, "ada@ops.example", "system:masters"), "laptop-admin", ns, "broken")

	rec := &recorder{}
	res := run(t, rec, "--kubeconfig", kc, "--context", "envtest", "sessions", "list", "--user", "grace@example.com", "-o", "json")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	want := "/latch admin --config /etc/latch/config/config.json --actor ada@ops.example --audit-log /proc/1/fd/1 -o json sessions list --user grace@example.com"
	if got := strings.Join(rec.argv, " "); got != want {
		t.Errorf("argv\n got %s\nwant %s", got, want)
	}
	if rec.target.Namespace != ns || rec.target.Pod != "dev-1" || rec.target.Container != "server" {
		t.Errorf("target %+v, want pod %s/dev-1 container server", rec.target, ns)
	}

	// latch admin's exit code is the plugin's.
	rec.code = 1
	if res := run(t, rec, "--kubeconfig", kc, "--context=envtest", "users", "show", "nobody"); res.code != 1 {
		t.Errorf("latch admin exit 1: plugin exit %d", res.code)
	}

	// -n wins over the context's namespace: there is no realm there.
	res = run(t, rec, "--kubeconfig", kc, "--context", "envtest", "-n", other, "--realm", "dev", "users", "list")
	if res.code != 1 || !strings.Contains(res.stderr, `no AuthRealm "dev" in namespace `+other) {
		t.Errorf("-n %s: exit %d, %q", other, res.code, res.stderr)
	}
	// Without --context, the current one (a closed port) is used.
	if res := run(t, rec, "--kubeconfig", kc, "users", "list"); res.code != 1 || !strings.Contains(res.stderr, "127.0.0.1:1") {
		t.Errorf("current context: exit %d, %q; want a failure to reach 127.0.0.1:1", res.code, res.stderr)
	}
	// The plugin's own usage errors exit 2 before anything is run.
	calls := rec.calls
	for _, args := range [][]string{{"--actor", "mallory", "users", "list"}, {"users", "list", "-A"}, {}} {
		if res := run(t, rec, append([]string{"--kubeconfig", kc, "--context", "envtest"}, args...)...); res.code != 2 || rec.calls != calls {
			t.Errorf("%q: exit %d, %d execs; want 2 and none: %s", args, res.code, rec.calls-calls, res.stderr)
		}
	}
}
