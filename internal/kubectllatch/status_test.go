package kubectllatch

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

func createClient(t *testing.T, ns, name string, ref authv1.RealmReference, conds ...metav1.Condition) {
	t.Helper()
	d := &authv1.DeviceClient{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       authv1.DeviceClientSpec{RealmRef: ref},
	}
	if err := k8s.Create(t.Context(), d); err != nil {
		t.Fatalf("create device client: %v", err)
	}
	for i := range conds {
		conds[i].ObservedGeneration = d.Generation
		conds[i].LastTransitionTime = metav1.Now()
	}
	d.Status = authv1.DeviceClientStatus{ObservedGeneration: d.Generation, Conditions: conds}
	if err := k8s.Status().Update(t.Context(), d); err != nil {
		t.Fatalf("device client status: %v", err)
	}
}

const (
	T = metav1.ConditionTrue
	F = metav1.ConditionFalse
)

// One namespace mid-upgrade: a realm rolling out a new version (two old servers ready, the
// new one starting), a realm whose Redis is down, and two device clients, one of them
// pointing at a realm of another namespace that does not exist.
func TestStatus(t *testing.T) {
	ns := newNamespace(t)
	createRealm(t, ns, "dev", 2, authv1.AuthRealmStatus{ReadyReplicas: 2, Replicas: 3, Conditions: []metav1.Condition{
		cond(authv1.ConditionReady, F, authv1.ReasonRollingOut),
		cond(authv1.ConditionAvailable, T, authv1.ReasonAvailable),
		cond(authv1.ConditionProgressing, T, authv1.ReasonRollingOut),
		cond(authv1.ConditionRedisReady, T, authv1.ReasonRedisManagedReady),
		cond(authv1.ConditionDegraded, F, authv1.ReasonAsExpected),
	}})
	createServerPod(t, ns, podSpec{name: "dev-old-1", realm: "dev", image: "registry.example:5000/latch:v1.4.0", ready: true})
	createServerPod(t, ns, podSpec{name: "dev-old-2", realm: "dev", image: "registry.example:5000/latch:v1.4.0", ready: true})
	createServerPod(t, ns, podSpec{name: "dev-new-1", realm: "dev", image: "registry.example:5000/latch:v1.5.0", ready: false})
	createRealm(t, ns, "prod", 1, authv1.AuthRealmStatus{Conditions: []metav1.Condition{
		cond(authv1.ConditionReady, F, authv1.ReasonRedisManagedPending),
		cond(authv1.ConditionAvailable, F, authv1.ReasonUnavailable),
		cond(authv1.ConditionRedisReady, F, authv1.ReasonRedisManagedPending),
		cond(authv1.ConditionDegraded, F, authv1.ReasonAsExpected),
	}})
	createServerPod(t, ns, podSpec{name: "prod-1", realm: "prod", image: "latch@sha256:0123456789abcdef0123", phase: corev1.PodPending})
	createClient(t, ns, "kiosk", authv1.RealmReference{Name: "dev"},
		cond(authv1.ConditionReady, T, authv1.ReasonRegistered),
		cond(authv1.ConditionRefsResolved, T, authv1.ReasonResolved),
		cond(authv1.ConditionRegistered, T, authv1.ReasonRegistered),
		cond(authv1.ConditionCredentialsReady, T, authv1.ReasonTokenIssued))
	createClient(t, ns, "tv", authv1.RealmReference{Name: "dev", Namespace: "elsewhere"},
		cond(authv1.ConditionReady, F, authv1.ReasonRefsNotResolved),
		cond(authv1.ConditionRefsResolved, F, authv1.ReasonRealmNotFound),
		cond(authv1.ConditionRegistered, F, authv1.ReasonRefsNotResolved))
	kc := kubeconfig(t, adminCfg, "admin", ns, "envtest")

	res := run(t, nil, "--kubeconfig", kc, "status")
	want := `REALM   READY   REASON                 SERVERS   VERSIONS                CONDITIONS
dev     False   RollingOut             2/2       v1.4.0 2/2,v1.5.0 0/1   Progressing=True(RollingOut)
prod    False   ManagedRedisNotReady   0/1       @0123456789ab 0/1       Available=False(MinimumReplicasUnavailable),RedisReady=False(ManagedRedisNotReady)

DEVICE CLIENT   REALM           READY   REASON            CONDITIONS
kiosk           dev             True    Registered        -
tv              elsewhere/dev   False   RefsNotResolved   RefsResolved=False(RealmNotFound),Registered=False(RefsNotResolved)
`
	if res.code != 0 || res.stdout != want {
		t.Errorf("status: exit %d %s\n got:\n%s\nwant:\n%s", res.code, res.stderr, res.stdout, want)
	}

	// --realm: that realm and its clients only.
	res = run(t, nil, "--kubeconfig", kc, "status", "--realm", "prod")
	if res.code != 0 || !strings.Contains(res.stdout, "prod ") || strings.Contains(res.stdout, "dev ") || !strings.Contains(res.stdout, "No DeviceClients in namespace "+ns+".") {
		t.Errorf("status --realm prod:\n%s%s", res.stdout, res.stderr)
	}

	// -A: every namespace, with a NAMESPACE column.
	empty := newNamespace(t)
	createRealm(t, empty, "solo", 1, authv1.AuthRealmStatus{Conditions: []metav1.Condition{cond(authv1.ConditionReady, T, authv1.ReasonReconciled)}})
	res = run(t, nil, "--kubeconfig", kc, "status", "-A")
	for _, want := range []string{"NAMESPACE ", ns + " ", empty + " ", "solo ", "kiosk "} {
		if res.code != 0 || !strings.Contains(res.stdout, want) {
			t.Errorf("status -A: want %q in\n%s%s", want, res.stdout, res.stderr)
		}
	}

	// A namespace with nothing says so, as kubectl get does.
	bare := newNamespace(t)
	res = run(t, nil, "--kubeconfig", kc, "-n", bare, "status")
	if want := "No AuthRealms in namespace " + bare + ".\n\nNo DeviceClients in namespace " + bare + ".\n"; res.code != 0 || res.stdout != want {
		t.Errorf("empty namespace: %q, want %q", res.stdout, want)
	}
}

// A realm whose status is of an older generation says the Ready it shows is stale.
func TestStatusMarksAStaleReady(t *testing.T) {
	ns := newNamespace(t)
	r := createRealm(t, ns, "dev", 1, authv1.AuthRealmStatus{Conditions: []metav1.Condition{cond(authv1.ConditionReady, T, authv1.ReasonReconciled)}})
	r.Spec.Replicas = new(int32(3))
	if err := k8s.Update(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	res := run(t, nil, "--kubeconfig", kubeconfig(t, adminCfg, "admin", ns, "envtest"), "status")
	if res.code != 0 || !strings.Contains(res.stdout, "Reconciled (stale)") || !strings.Contains(res.stdout, "0/3") {
		t.Errorf("stale status:\n%s%s", res.stdout, res.stderr)
	}
}

func TestImageVersion(t *testing.T) {
	for image, want := range map[string]string{
		"latch":                          "latest",
		"registry.example:5000/latch":    "latest",
		"registry.example:5000/latch:v2": "v2",
		"ghcr.example/l/latch:v1.2.3@sha256:0123456789abcdef": "v1.2.3",
		"latch@sha256:0123456789abcdef":                       "@0123456789ab",
	} {
		if got := imageVersion(image); got != want {
			t.Errorf("imageVersion(%q) = %q, want %q", image, got, want)
		}
	}
}
