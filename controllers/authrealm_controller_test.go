package controllers

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/config"
)

const waitFor = 20 * time.Second

func newRealm(ns, name string) *authv1.AuthRealm {
	return &authv1.AuthRealm{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: authv1.AuthRealmSpec{
			Protocols: authv1.ProtocolsSpec{
				DeviseToken: &authv1.DeviseTokenSpec{},
				Account:     &authv1.AccountSpec{},
			},
		},
	}
}

func createRealm(t *testing.T, r *authv1.AuthRealm) *authv1.AuthRealm {
	t.Helper()
	if err := k8s.Create(t.Context(), r); err != nil {
		t.Fatalf("create realm: %v", err)
	}
	return r
}

// get waits until the object exists and reads it.
func get(t *testing.T, ns, name string, obj client.Object) {
	t.Helper()
	eventually(t, waitFor, func() error { return k8s.Get(t.Context(), keyNS(ns, name), obj) })
}

func realmStatus(t *testing.T, r *authv1.AuthRealm) *authv1.AuthRealm {
	t.Helper()
	cur := &authv1.AuthRealm{}
	if err := k8s.Get(t.Context(), keyOf(r), cur); err != nil {
		t.Fatal(err)
	}
	return cur
}

func waitCondition(t *testing.T, r *authv1.AuthRealm, condType string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	eventually(t, waitFor, func() error {
		cur := realmStatus(t, r)
		got = meta.FindStatusCondition(cur.Status.Conditions, condType)
		if got == nil || got.Status != status || (reason != "" && got.Reason != reason) {
			return fmt.Errorf("condition %s = %+v, want status %s reason %q", condType, got, status, reason)
		}
		if got.ObservedGeneration != cur.Generation {
			return fmt.Errorf("condition %s observed generation %d, realm is at %d", condType, got.ObservedGeneration, cur.Generation)
		}
		return nil
	})
	return got
}

func assertControlledBy(t *testing.T, obj client.Object, r *authv1.AuthRealm) {
	t.Helper()
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.UID != r.UID || ref.Kind != "AuthRealm" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("%T %s: controller reference %+v does not point at realm %s (uid %s) with blockOwnerDeletion", obj, obj.GetName(), ref, r.Name, r.UID)
	}
}

// TestRealmCreatesEveryChild checks that a realm with every option produces every child with
// the fields that matter, each owned by the realm so deleting it garbage-collects them.
func TestRealmCreatesEveryChild(t *testing.T) {
	ns := newNamespace(t)
	r := newRealm(ns, "every")
	r.Spec.Replicas = ptr.To[int32](3)
	r.Spec.Protocols.ReactAuth = &authv1.ReactAuthSpec{}
	r.Spec.Protocols.BearerToken = &authv1.BearerTokenSpec{}
	r.Spec.Protocols.KeyToken = &authv1.KeyTokenSpec{}
	r.Spec.NetworkPolicy = &authv1.NetworkPolicySpec{}
	r.Spec.Ingress = &authv1.IngressSpec{Host: "auth.example.com", TLSSecretName: "auth-tls"}
	r.Spec.BruteForce.TrustedProxies = []string{"10.244.0.0/16"}
	r.Spec.AllowedOrigins = []string{"https://app.example.com"}
	createRealm(t, r)

	cm := &corev1.ConfigMap{}
	get(t, ns, "every-config", cm)
	cfg, err := config.Parse([]byte(cm.Data["config.json"]))
	if err != nil {
		t.Fatalf("the server refuses the rendered config: %v\n%s", err, cm.Data["config.json"])
	}
	p := cfg.Protocols
	if p.ReactAuth == nil || p.DeviseToken == nil || p.Account == nil || p.BearerToken == nil || p.KeyToken == nil {
		t.Errorf("rendered config lacks a dialect: %+v", p)
	}
	if cfg.Redis == nil || cfg.Redis.Addresses[0] != "every-redis."+ns+".svc:6379" || cfg.Redis.Password.File == "" {
		t.Errorf("rendered redis = %+v, want the managed Redis with a password file", cfg.Redis)
	}
	if !cfg.Listen.SecureCookies {
		t.Errorf("an ingress with TLS must make cookies Secure")
	}
	if cfg.Protocols.DeviseToken.BatchRequestBuffer.Duration != 5*time.Second || cfg.Protocols.DeviseToken.MaxDevices != 10 {
		t.Errorf("CRD defaults did not reach the config: %+v", cfg.Protocols.DeviseToken)
	}

	keys := &corev1.Secret{}
	get(t, ns, "every-keys", keys)
	for _, k := range []string{keyTokenHashKey, keyRedisPassword} {
		if len(keys.Data[k]) != 43 {
			t.Errorf("generated key %s has %d chars, want 43 (256 bits, base64url)", k, len(keys.Data[k]))
		}
	}

	sa := &corev1.ServiceAccount{}
	get(t, ns, "every", sa)
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("service account must not automount a token")
	}

	d := &appsv1.Deployment{}
	get(t, ns, "every", d)
	if *d.Spec.Replicas != 3 {
		t.Errorf("deployment replicas = %d, want 3", *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if c.Image != testImage {
		t.Errorf("image = %q, want the operator's default %q", c.Image, testImage)
	}
	sc := c.SecurityContext
	if !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" ||
		sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("container is not hardened: %+v", sc)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port.StrVal != "admin" {
		t.Errorf("probes must hit /healthz and /readyz on the admin port: %+v %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	topologies := map[string]bool{}
	for _, tsc := range pod.TopologySpreadConstraints {
		topologies[tsc.TopologyKey] = true
	}
	if !topologies["kubernetes.io/hostname"] || !topologies["topology.kubernetes.io/zone"] {
		t.Errorf("pods must spread across nodes and zones: %+v", pod.TopologySpreadConstraints)
	}
	if d.Spec.Template.Annotations[authv1.ConfigHashAnnotation] == "" {
		t.Errorf("pod template lacks %s", authv1.ConfigHashAnnotation)
	}
	if strings.Join(c.Args, " ") != "server --config /etc/latch/config/config.json" {
		t.Errorf("args = %v", c.Args)
	}

	svc := &corev1.Service{}
	get(t, ns, "every", svc)
	if len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[1].Port != 9090 {
		t.Errorf("service ports = %+v", svc.Spec.Ports)
	}
	pdb := &policyv1.PodDisruptionBudget{}
	get(t, ns, "every", pdb)
	sts := &appsv1.StatefulSet{}
	get(t, ns, "every-redis", sts)
	if args := strings.Join(sts.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--appendonly yes") {
		t.Errorf("managed redis must use AOF: %s", args)
	}
	redisSvc := &corev1.Service{}
	get(t, ns, "every-redis", redisSvc)
	pvc := &corev1.PersistentVolumeClaim{}
	get(t, ns, "every-redis-data", pvc)
	np := &networkingv1.NetworkPolicy{}
	get(t, ns, "every", np)
	redisNP := &networkingv1.NetworkPolicy{}
	get(t, ns, "every-redis", redisNP)
	ing := &networkingv1.Ingress{}
	get(t, ns, "every", ing)
	if ing.Spec.Rules[0].Host != "auth.example.com" || ing.Spec.TLS[0].SecretName != "auth-tls" {
		t.Errorf("ingress = %+v", ing.Spec)
	}

	// Deleting the realm leaves the garbage collector everything it needs: every child is
	// controlled by the realm.
	for _, obj := range []client.Object{cm, keys, sa, d, svc, pdb, sts, redisSvc, pvc, np, redisNP, ing} {
		assertControlledBy(t, obj, r)
	}

	// The status is written after the last child, in the same reconcile.
	eventually(t, waitFor, func() error {
		st := realmStatus(t, r)
		if st.Status.Endpoint != "http://every."+ns+".svc:8080" || st.Status.Selector == "" || st.Status.ConfigHash == "" {
			return fmt.Errorf("status = %+v", st.Status)
		}
		return nil
	})
}

// TestChildrenRestored deletes and edits children and expects them back as they were.
func TestChildrenRestored(t *testing.T) {
	ns := newNamespace(t)
	r := createRealm(t, newRealm(ns, "restore"))
	d := &appsv1.Deployment{}
	get(t, ns, "restore", d)

	// Deleted: re-created.
	oldUID := d.UID
	if err := k8s.Delete(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		cur := &appsv1.Deployment{}
		if err := k8s.Get(t.Context(), keyOf(d), cur); err != nil {
			return err
		}
		if cur.UID == oldUID {
			return errors.New("still the deleted deployment")
		}
		return nil
	})

	// Edited by someone else: the operator's fields are put back.
	svc := &corev1.Service{}
	get(t, ns, "restore", svc)
	svc.Spec.Selector[labelInstance] = "someone-else"
	if err := k8s.Update(t.Context(), svc, client.FieldOwner("someone")); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		cur := &corev1.Service{}
		if err := k8s.Get(t.Context(), keyOf(svc), cur); err != nil {
			return err
		}
		if got := cur.Spec.Selector[labelInstance]; got != "restore" {
			return fmt.Errorf("service selector still %q", got)
		}
		return nil
	})

	cur := &appsv1.Deployment{}
	get(t, ns, "restore", cur)
	cur.Spec.Template.Spec.Containers[0].Image = "evil.example/image:1"
	if err := k8s.Update(t.Context(), cur, client.FieldOwner("someone")); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		if err := k8s.Get(t.Context(), keyOf(cur), cur); err != nil {
			return err
		}
		if img := cur.Spec.Template.Spec.Containers[0].Image; img != testImage {
			return fmt.Errorf("image still %q", img)
		}
		return nil
	})

	cm := &corev1.ConfigMap{}
	get(t, ns, "restore-config", cm)
	cm.Data["config.json"] = "{}"
	if err := k8s.Update(t.Context(), cm, client.FieldOwner("someone")); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		if err := k8s.Get(t.Context(), keyOf(cm), cm); err != nil {
			return err
		}
		if cm.Data["config.json"] == "{}" {
			return errors.New("config still overwritten")
		}
		return nil
	})
	_ = r
}

// TestKeysSecretCreatedOnce checks the generated keys survive every later reconcile.
func TestKeysSecretCreatedOnce(t *testing.T) {
	ns := newNamespace(t)
	r := createRealm(t, newRealm(ns, "keys"))
	keys := &corev1.Secret{}
	get(t, ns, "keys-keys", keys)
	before := string(keys.Data[keyTokenHashKey])

	d := &appsv1.Deployment{}
	get(t, ns, "keys", d)
	hash := d.Spec.Template.Annotations[authv1.ConfigHashAnnotation]
	updateRealm(t, r, func(cur *authv1.AuthRealm) {
		cur.Spec.Protocols.DeviseToken.MaxDevices = 3
	})
	eventually(t, waitFor, func() error {
		if err := k8s.Get(t.Context(), keyOf(d), d); err != nil {
			return err
		}
		if d.Spec.Template.Annotations[authv1.ConfigHashAnnotation] == hash {
			return errors.New("not reconciled yet")
		}
		return nil
	})
	if err := k8s.Get(t.Context(), keyOf(keys), keys); err != nil {
		t.Fatal(err)
	}
	if string(keys.Data[keyTokenHashKey]) != before {
		t.Fatal("the generated token hash key changed: every session would end")
	}
}

// TestSpecChangeRollsPods checks the pod template hash moves on a spec change and on a
// change of a referenced Secret, and on nothing else.
func TestSpecChangeRollsPods(t *testing.T) {
	ns := newNamespace(t)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "redis-pw", Namespace: ns}, StringData: map[string]string{"password": "one"}}
	if err := k8s.Create(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	r := newRealm(ns, "roll")
	r.Spec.Redis = &authv1.RedisSpec{External: &authv1.ExternalRedisSpec{
		Addresses:         []string{"redis.example:6379"},
		PasswordSecretRef: &authv1.SecretKeyRef{Name: "redis-pw", Key: "password"},
	}}
	createRealm(t, r)
	d := &appsv1.Deployment{}
	get(t, ns, "roll", d)
	hash0 := d.Spec.Template.Annotations[authv1.ConfigHashAnnotation]

	waitHashChange := func(from string) string {
		t.Helper()
		var h string
		eventually(t, waitFor, func() error {
			if err := k8s.Get(t.Context(), keyOf(d), d); err != nil {
				return err
			}
			h = d.Spec.Template.Annotations[authv1.ConfigHashAnnotation]
			if h == from {
				return errors.New("pod template hash unchanged")
			}
			return nil
		})
		return h
	}

	updateRealm(t, r, func(cur *authv1.AuthRealm) {
		cur.Spec.Protocols.DeviseToken.TokenLifespan = &metav1.Duration{Duration: 48 * time.Hour}
	})
	hash1 := waitHashChange(hash0)
	cm := &corev1.ConfigMap{}
	get(t, ns, "roll-config", cm)
	if !strings.Contains(cm.Data["config.json"], `"tokenLifespan": "48h0m0s"`) {
		t.Errorf("config does not carry the new lifespan:\n%s", cm.Data["config.json"])
	}

	// The referenced Secret is watched through the index: a new password rolls the pods.
	if err := k8s.Get(t.Context(), keyOf(sec), sec); err != nil {
		t.Fatal(err)
	}
	sec.Data["password"] = []byte("two")
	if err := k8s.Update(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	waitHashChange(hash1)
}

// TestNoopReconcileWritesNothing counts API writes of reconciles of a realm in steady state.
func TestNoopReconcileWritesNothing(t *testing.T) {
	ns := newNamespace(t)
	r := newRealm(ns, "quiet")
	r.Spec.Replicas = ptr.To[int32](2)
	r.Spec.NetworkPolicy = &authv1.NetworkPolicySpec{}
	r.Spec.Ingress = &authv1.IngressSpec{Host: "quiet.example.com"}
	r.Spec.BruteForce.TrustedProxies = []string{"10.244.0.0/16"}
	createRealm(t, r)
	get(t, ns, "quiet", &networkingv1.Ingress{})

	var writes atomic.Int64
	counting := &AuthRealmReconciler{Client: countingClient(t, &writes), Scheme: testScheme, ServerImage: testImage, OperatorNamespace: testOperatorNamespace}
	req := ctrl.Request{NamespacedName: keyOf(r)}
	// Let the manager's own reconciles settle, then every reconcile must write nothing.
	eventually(t, waitFor, func() error {
		writes.Store(0)
		if _, err := counting.Reconcile(t.Context(), req); err != nil {
			return err
		}
		if n := writes.Load(); n != 0 {
			return fmt.Errorf("reconcile made %d writes", n)
		}
		return nil
	})
	for i := range 3 {
		writes.Store(0)
		if _, err := counting.Reconcile(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		if n := writes.Load(); n != 0 {
			t.Fatalf("no-op reconcile %d made %d API writes, want 0", i, n)
		}
	}
	t.Logf("no-op reconcile of a realm with %d children: 0 API writes (3 runs)", 11)

	// And a change is written: the counter is not blind.
	updateRealm(t, r, func(cur *authv1.AuthRealm) {
		cur.Spec.Protocols.DeviseToken.MaxDevices = 4
	})
	writes.Store(0)
	if _, err := counting.Reconcile(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if writes.Load() == 0 {
		t.Fatal("a spec change made no write")
	}
}

// TestStatusFollowsDeployment drives the Deployment's status by hand (envtest runs no
// Deployment controller) and expects the realm's conditions to follow.
func TestStatusFollowsDeployment(t *testing.T) {
	ns := newNamespace(t)
	r := newRealm(ns, "status")
	r.Spec.Replicas = ptr.To[int32](2)
	r.Spec.Redis = &authv1.RedisSpec{External: &authv1.ExternalRedisSpec{Addresses: []string{"redis:6379"}}}
	createRealm(t, r)
	d := &appsv1.Deployment{}
	get(t, ns, "status", d)

	waitCondition(t, r, authv1.ConditionReady, metav1.ConditionFalse, authv1.ReasonUnavailable)
	waitCondition(t, r, authv1.ConditionProgressing, metav1.ConditionTrue, authv1.ReasonRollingOut)
	waitCondition(t, r, authv1.ConditionRedisReady, metav1.ConditionTrue, authv1.ReasonRedisExternal)

	setStatus := func(ready int32) {
		t.Helper()
		if err := k8s.Get(t.Context(), keyOf(d), d); err != nil {
			t.Fatal(err)
		}
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: ready, AvailableReplicas: ready,
		}
		if err := k8s.Status().Update(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(2)
	ready := waitCondition(t, r, authv1.ConditionReady, metav1.ConditionTrue, authv1.ReasonReconciled)
	if !strings.Contains(ready.Message, "2/2") {
		t.Errorf("Ready message = %q", ready.Message)
	}
	waitCondition(t, r, authv1.ConditionAvailable, metav1.ConditionTrue, authv1.ReasonAvailable)
	waitCondition(t, r, authv1.ConditionProgressing, metav1.ConditionFalse, authv1.ReasonRolledOut)
	waitCondition(t, r, authv1.ConditionDegraded, metav1.ConditionFalse, authv1.ReasonAsExpected)
	if st := realmStatus(t, r); st.Status.ReadyReplicas != 2 || st.Status.Replicas != 2 {
		t.Errorf("status replicas = %d/%d", st.Status.ReadyReplicas, st.Status.Replicas)
	}

	setStatus(0)
	waitCondition(t, r, authv1.ConditionAvailable, metav1.ConditionFalse, authv1.ReasonUnavailable)
	waitCondition(t, r, authv1.ConditionReady, metav1.ConditionFalse, "")
}

// TestManagedRedisReadiness checks RedisReady follows the managed StatefulSet.
func TestManagedRedisReadiness(t *testing.T) {
	ns := newNamespace(t)
	r := createRealm(t, newRealm(ns, "redis"))
	waitCondition(t, r, authv1.ConditionRedisReady, metav1.ConditionFalse, authv1.ReasonRedisManagedPending)
	sts := &appsv1.StatefulSet{}
	get(t, ns, "redis-redis", sts)
	sts.Status = appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 1, ObservedGeneration: sts.Generation}
	if err := k8s.Status().Update(t.Context(), sts); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, r, authv1.ConditionRedisReady, metav1.ConditionTrue, authv1.ReasonRedisManagedReady)
}

// TestMissingSecretReported checks a spec the user must fix is reported, not retried, and
// that providing the Secret heals the realm through the Secret watch.
func TestMissingSecretReported(t *testing.T) {
	ns := newNamespace(t)
	r := newRealm(ns, "missing")
	r.Spec.Redis = &authv1.RedisSpec{External: &authv1.ExternalRedisSpec{
		Addresses:         []string{"redis:6379"},
		PasswordSecretRef: &authv1.SecretKeyRef{Name: "not-yet", Key: "password"},
	}}
	createRealm(t, r)
	deg := waitCondition(t, r, authv1.ConditionDegraded, metav1.ConditionTrue, authv1.ReasonSecretMissing)
	if !strings.Contains(deg.Message, "Secret "+ns+"/not-yet") || !strings.Contains(deg.Message, "create it") {
		t.Errorf("message does not say what to fix: %q", deg.Message)
	}
	waitCondition(t, r, authv1.ConditionReady, metav1.ConditionFalse, authv1.ReasonSecretMissing)
	if err := k8s.Get(t.Context(), keyNS(ns, "missing"), &appsv1.Deployment{}); !kerrors.IsNotFound(err) {
		t.Fatalf("a Deployment that cannot start was created (err %v)", err)
	}

	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "not-yet", Namespace: ns}, StringData: map[string]string{"wrong-key": "x"}}
	if err := k8s.Create(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	deg = waitCondition(t, r, authv1.ConditionDegraded, metav1.ConditionTrue, authv1.ReasonSecretKeyMissing)
	if !strings.Contains(deg.Message, `no key "password"`) {
		t.Errorf("message = %q", deg.Message)
	}
	sec.StringData = map[string]string{"password": "pw"}
	if err := k8s.Update(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, r, authv1.ConditionDegraded, metav1.ConditionFalse, authv1.ReasonAsExpected)
	get(t, ns, "missing", &appsv1.Deployment{})
}

// TestDisruptionBudgetFollowsReplicas checks the PDB exists only with more than one replica.
func TestDisruptionBudgetFollowsReplicas(t *testing.T) {
	ns := newNamespace(t)
	r := newRealm(ns, "pdb")
	r.Spec.Replicas = ptr.To[int32](2)
	createRealm(t, r)
	get(t, ns, "pdb", &policyv1.PodDisruptionBudget{})
	updateRealm(t, r, func(cur *authv1.AuthRealm) {
		cur.Spec.Replicas = ptr.To[int32](1)
	})
	eventually(t, waitFor, func() error {
		err := k8s.Get(t.Context(), keyNS(ns, "pdb"), &policyv1.PodDisruptionBudget{})
		if kerrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("PDB still present (err %v)", err)
	})
}

// TestServiceMonitorOnlyWithItsCRD checks the ServiceMonitor is reported missing without its
// CRD and created once the CRD is installed.
func TestServiceMonitorOnlyWithItsCRD(t *testing.T) {
	ns := newNamespace(t)
	r := newRealm(ns, "monitored")
	r.Spec.ServiceMonitor = &authv1.ServiceMonitorSpec{}
	createRealm(t, r)
	deg := waitCondition(t, r, authv1.ConditionDegraded, metav1.ConditionFalse, "ServiceMonitorCRDMissing")
	if !strings.Contains(deg.Message, "not installed") {
		t.Errorf("message = %q", deg.Message)
	}

	crds, err := envtest.InstallCRDs(testCfg, envtest.CRDInstallOptions{Paths: []string{filepath.Join("testdata", "servicemonitor-crd.yaml")}})
	if err != nil || len(crds) != 1 {
		t.Fatalf("install ServiceMonitor CRD: %v", err)
	}
	t.Cleanup(func() {
		_ = envtest.UninstallCRDs(testCfg, envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{crds[0]}})
	})
	// Nudge the realm: the CRD's arrival is not an event the controller watches.
	updateRealm(t, r, func(cur *authv1.AuthRealm) {
		cur.Annotations = map[string]string{"test/nudge": "1"}
	})
	sm := &unstructured.Unstructured{}
	sm.SetAPIVersion("monitoring.coreos.com/v1")
	sm.SetKind("ServiceMonitor")
	eventually(t, waitFor, func() error { return k8s.Get(t.Context(), keyNS(ns, "monitored"), sm) })
	assertControlledBy(t, sm, r)
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != "admin" {
		t.Errorf("ServiceMonitor endpoints = %v", eps)
	}
	waitCondition(t, r, authv1.ConditionDegraded, metav1.ConditionFalse, authv1.ReasonAsExpected)
}

// updateRealm changes a realm's spec, retrying on conflicts: the controller patches the
// realm's status meanwhile, which moves its resourceVersion.
func updateRealm(t *testing.T, r *authv1.AuthRealm, change func(*authv1.AuthRealm)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &authv1.AuthRealm{}
		if err := k8s.Get(t.Context(), keyOf(r), cur); err != nil {
			return err
		}
		change(cur)
		return k8s.Update(t.Context(), cur)
	})
	if err != nil {
		t.Fatalf("update realm %s: %v", r.Name, err)
	}
}
