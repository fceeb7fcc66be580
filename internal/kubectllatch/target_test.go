package kubectllatch

import (
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

func adminCluster(t *testing.T, ns string) *Cluster {
	t.Helper()
	c, err := NewCluster(adminCfg, ns)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A realm mid-rollout: the pod latch admin runs in is ready, not terminating, and of the
// current config when there is one, whatever the names' order.
func TestFindTargetPicksAReadyPodOfTheCurrentConfig(t *testing.T) {
	ns := newNamespace(t)
	createRealm(t, ns, "dev", 2, authv1.AuthRealmStatus{ConfigHash: "new"})
	createServerPod(t, ns, podSpec{name: "dev-a-old", realm: "dev", hash: "old", ready: true})
	createServerPod(t, ns, podSpec{name: "dev-b-starting", realm: "dev", hash: "new", ready: false})
	createServerPod(t, ns, podSpec{name: "dev-c-new", realm: "dev", hash: "new", ready: true, config: "/etc/latch/config/current.json"})
	// A ready pod of the current config on its way out: deleted, held by a finalizer.
	gone := createServerPod(t, ns, podSpec{name: "dev-0-terminating", realm: "dev", hash: "new", ready: true})
	gone.Finalizers = []string{"example.test/hold"}
	if err := k8s.Update(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(gone), gone); err == nil {
			gone.Finalizers = nil
			_ = k8s.Update(context.Background(), gone)
		}
	})
	// Another realm's ready pod in the same namespace is never chosen.
	createRealm(t, ns, "prod", 1, authv1.AuthRealmStatus{})
	createServerPod(t, ns, podSpec{name: "dev-000-prod", realm: "prod", hash: "new", ready: true})

	got, err := FindTarget(t.Context(), adminCluster(t, ns), "dev")
	if err != nil {
		t.Fatal(err)
	}
	want := Target{Namespace: ns, Realm: "dev", Pod: "dev-c-new", Container: "server", Binary: "/latch", ConfigPath: "/etc/latch/config/current.json"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("target\n got %+v\nwant %+v", got, want)
	}

	// With the current pod gone, an old but ready one will do.
	if err := k8s.Delete(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dev-c-new", Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	if got, err := FindTarget(t.Context(), adminCluster(t, ns), "dev"); err != nil || got.Pod != "dev-a-old" {
		t.Errorf("without the current pod: %+v, %v; want dev-a-old", got, err)
	}
}

// No ready pod: the error names the realm and says what each pod is doing.
func TestFindTargetWithoutAReadyPod(t *testing.T) {
	ns := newNamespace(t)
	c := adminCluster(t, ns)
	createRealm(t, ns, "dev", 2, authv1.AuthRealmStatus{})

	_, err := FindTarget(t.Context(), c, "dev")
	if err == nil || !strings.Contains(err.Error(), "realm "+ns+"/dev") || !strings.Contains(err.Error(), "no server pods") {
		t.Errorf("no pods: %v, want an error naming realm %s/dev and saying it has no server pods", err, ns)
	}

	createServerPod(t, ns, podSpec{name: "dev-1", realm: "dev", phase: corev1.PodPending})
	createServerPod(t, ns, podSpec{name: "dev-2", realm: "dev", ready: false})
	_, err = FindTarget(t.Context(), c, "dev")
	for _, want := range []string{"realm " + ns + "/dev", "no ready server pod", "dev-1 is pending", "dev-2 is not ready"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("unready pods: %v, want it to say %q", err, want)
		}
	}

	if _, err := FindTarget(t.Context(), c, "nope"); err == nil || !strings.Contains(err.Error(), `no AuthRealm "nope" in namespace `+ns) {
		t.Errorf("missing realm: %v", err)
	}

	// Through the plugin: exit 1, the realm named, and nothing executed.
	kc := kubeconfig(t, adminCfg, "admin", ns, "envtest")
	rec := &recorder{}
	res := run(t, rec, "--kubeconfig", kc, "sessions", "list", "--realm", "dev", "--user", "ada@example.com")
	if res.code != 1 || !strings.Contains(res.stderr, "realm "+ns+"/dev: no ready server pod") || rec.calls != 0 {
		t.Errorf("plugin: exit %d, stderr %q, %d execs; want exit 1 naming the realm, no exec", res.code, res.stderr, rec.calls)
	}
}

// --realm may be left out only when the namespace has exactly one realm.
func TestRealmDefaultsToTheNamespacesOnlyRealm(t *testing.T) {
	ns := newNamespace(t)
	c := adminCluster(t, ns)
	if _, err := resolveRealm(t.Context(), c, ""); err == nil || !strings.Contains(err.Error(), "has no AuthRealm") {
		t.Errorf("no realm: %v", err)
	}
	createRealm(t, ns, "dev", 1, authv1.AuthRealmStatus{})
	if got, err := resolveRealm(t.Context(), c, ""); err != nil || got != "dev" {
		t.Errorf("one realm: %q, %v; want dev", got, err)
	}
	createRealm(t, ns, "prod", 1, authv1.AuthRealmStatus{})
	if _, err := resolveRealm(t.Context(), c, ""); err == nil || !strings.Contains(err.Error(), "several realms (dev, prod)") {
		t.Errorf("two realms: %v, want both named", err)
	}
	if got, err := resolveRealm(t.Context(), c, "prod"); err != nil || got != "prod" {
		t.Errorf("--realm prod: %q, %v", got, err)
	}
}
