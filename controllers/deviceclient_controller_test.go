package controllers

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
	"github.com/latchauth/latch/authserver/store/redistest"
	"github.com/latchauth/latch/authserver/token"
)

// The DeviceClient controller against envtest and a real redis-server per test: each test's
// realm uses an external Redis on 127.0.0.1, and the test reads that Redis through the store,
// exactly as the realm's servers would.

// clientRealm is one test's realm and direct access to what its servers read.
type clientRealm struct {
	ns     string
	realm  *authv1.AuthRealm
	srv    *redistest.Server
	store  *redisstore.Store
	hasher *token.Hasher
}

func newClientRealm(t *testing.T, edit ...func(*authv1.AuthRealm)) *clientRealm {
	t.Helper()
	ns := newNamespace(t)
	srv := redistest.Start(t)
	prefix := "latch:" + ns + ":"
	r := newRealm(ns, "realm")
	r.Spec.Redis = &authv1.RedisSpec{External: &authv1.ExternalRedisSpec{Addresses: []string{srv.Addr}, KeyPrefix: prefix}}
	for _, e := range edit {
		e(r)
	}
	createRealm(t, r)
	keys := &corev1.Secret{}
	get(t, ns, keysSecretName(r), keys)
	hasher, err := token.NewHasher(bytes.TrimSpace(keys.Data[keyTokenHashKey]))
	if err != nil {
		t.Fatalf("the realm's token hash key: %v", err)
	}
	st, err := redisstore.New(srv.Client(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return &clientRealm{ns: ns, realm: r, srv: srv, store: st, hasher: hasher}
}

func newDeviceClient(ns, name, realm string) *authv1.DeviceClient {
	return &authv1.DeviceClient{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       authv1.DeviceClientSpec{RealmRef: authv1.RealmReference{Name: realm}},
	}
}

func createClient(t *testing.T, dc *authv1.DeviceClient) *authv1.DeviceClient {
	t.Helper()
	if err := k8s.Create(t.Context(), dc); err != nil {
		t.Fatalf("create DeviceClient %s: %v", dc.Name, err)
	}
	return dc
}

func currentClient(t *testing.T, dc *authv1.DeviceClient) *authv1.DeviceClient {
	t.Helper()
	cur := &authv1.DeviceClient{}
	if err := k8s.Get(t.Context(), keyOf(dc), cur); err != nil {
		t.Fatal(err)
	}
	return cur
}

// waitClient waits until the client's condition has the status and reason (any reason when
// empty) for its current generation, and returns the client.
func waitClient(t *testing.T, dc *authv1.DeviceClient, condType string, status metav1.ConditionStatus, reason string) *authv1.DeviceClient {
	t.Helper()
	var cur *authv1.DeviceClient
	eventually(t, waitFor, func() error {
		cur = currentClient(t, dc)
		c := meta.FindStatusCondition(cur.Status.Conditions, condType)
		if c == nil || c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("%s condition %s = %+v, want status %s reason %q", dc.Name, condType, c, status, reason)
		}
		if c.ObservedGeneration != cur.Generation {
			return fmt.Errorf("%s condition %s observed generation %d, object is at %d", dc.Name, condType, c.ObservedGeneration, cur.Generation)
		}
		return nil
	})
	return cur
}

func waitReady(t *testing.T, dc *authv1.DeviceClient) *authv1.DeviceClient {
	t.Helper()
	return waitClient(t, dc, authv1.ConditionReady, metav1.ConditionTrue, authv1.ReasonReconciled)
}

func conditionMessage(dc *authv1.DeviceClient, condType string) string {
	if c := meta.FindStatusCondition(dc.Status.Conditions, condType); c != nil {
		return c.Message
	}
	return ""
}

// credentialsOf waits for the client's credentials Secret and reads it.
func credentialsOf(t *testing.T, dc *authv1.DeviceClient) *corev1.Secret {
	t.Helper()
	sec := &corev1.Secret{}
	get(t, dc.Namespace, credentialsSecretName(dc), sec)
	return sec
}

// hashOf is the hash a realm's server computes from a presented device token.
func (cr *clientRealm) hashOf(t *testing.T, tok string) string {
	t.Helper()
	parsed, err := token.ParseDeviceToken(tok)
	if err != nil {
		t.Fatalf("%q is not a device token: %v", tok, err)
	}
	return cr.hasher.Hash(parsed.Secret)
}

// lookup is what a realm's server does with a presented device token: one lookup by the
// client id the token names and the hash of its secret.
func (cr *clientRealm) lookup(t *testing.T, tok string) (store.DeviceToken, error) {
	t.Helper()
	parsed, err := token.ParseDeviceToken(tok)
	if err != nil {
		t.Fatalf("%q is not a device token: %v", tok, err)
	}
	return cr.store.GetDeviceToken(t.Context(), parsed.ClientID, cr.hasher.Hash(parsed.Secret), time.Now())
}

func (cr *clientRealm) mustAccept(t *testing.T, tok, what string) store.DeviceToken {
	t.Helper()
	d, err := cr.lookup(t, tok)
	if err != nil {
		t.Fatalf("%s is not registered: %v", what, err)
	}
	return d
}

func (cr *clientRealm) mustRefuse(t *testing.T, tok, what string) {
	t.Helper()
	if _, err := cr.lookup(t, tok); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: lookup = %v, want ErrNotFound", what, err)
	}
}

// eventuallyRefused waits until Redis no longer accepts tok.
func (cr *clientRealm) eventuallyRefused(t *testing.T, tok, what string) {
	t.Helper()
	eventually(t, waitFor, func() error {
		if _, err := cr.lookup(t, tok); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s: lookup = %v, want ErrNotFound", what, err)
		}
		return nil
	})
}

func (cr *clientRealm) tokensOf(t *testing.T, clientID string) []store.DeviceToken {
	t.Helper()
	tokens, err := cr.store.ListDeviceTokens(t.Context(), clientID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

func tokenOf(sec *corev1.Secret) string { return string(sec.Data[credKeyToken]) }

// waitEvent waits for an event of the given reason about dc.
func waitEvent(t *testing.T, dc *authv1.DeviceClient, reason string) eventsv1.Event {
	t.Helper()
	var found eventsv1.Event
	eventually(t, waitFor, func() error {
		var list eventsv1.EventList
		if err := k8s.List(t.Context(), &list, client.InNamespace(dc.Namespace)); err != nil {
			return err
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Name == dc.Name && e.Regarding.Kind == "DeviceClient" {
				if e.Reason == reason {
					found = e
					return nil
				}
				seen = append(seen, e.Reason)
			}
		}
		return fmt.Errorf("no %s event for %s; seen %v", reason, dc.Name, seen)
	})
	return found
}

func waitGone(t *testing.T, obj client.Object) {
	t.Helper()
	eventually(t, waitFor, func() error {
		err := k8s.Get(t.Context(), keyOf(obj), obj.DeepCopyObject().(client.Object))
		if kerrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("%s still exists (err %v)", obj.GetName(), err)
	})
}

// TestDeviceClientRegistersItsToken: a device client gets a Secret with its token and a
// registration in Redis holding only the token's hash, with the metadata the server reports.
func TestDeviceClientRegistersItsToken(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t)
	dc := newDeviceClient(cr.ns, "sensor-1", "realm")
	dc.Spec.Roles = []string{"telemetry", "firmware:read"}
	dc.Spec.Credentials.SecretTemplate = authv1.SecretTemplate{
		Labels:      map[string]string{"team": "iot"},
		Annotations: map[string]string{"reloader.example.com/match": "true"},
	}
	createClient(t, dc)
	cur := waitReady(t, dc)

	sec := credentialsOf(t, dc)
	tok := tokenOf(sec)
	if got := string(sec.Data[credKeyClientID]); got != "sensor-1" {
		t.Errorf("client-id = %q", got)
	}
	if got := string(sec.Data[credKeyDeviceID]); got != string(cur.UID) {
		t.Errorf("device-id = %q, want the object's UID %s", got, cur.UID)
	}
	expires, err := time.Parse(time.RFC3339, string(sec.Data[credKeyExpires]))
	if err != nil {
		t.Fatalf("expires = %q: %v", sec.Data[credKeyExpires], err)
	}
	if left := time.Until(expires); left < 719*time.Hour || left > 720*time.Hour {
		t.Errorf("the token expires in %s, want the default lifespan of 720h", left)
	}
	if sec.Labels["team"] != "iot" || sec.Annotations["reloader.example.com/match"] != "true" {
		t.Errorf("the secretTemplate did not reach the Secret: labels %v annotations %v", sec.Labels, sec.Annotations)
	}
	if ref := metav1.GetControllerOf(sec); ref == nil || ref.UID != cur.UID || ref.Kind != "DeviceClient" {
		t.Errorf("controller reference = %+v", ref)
	}

	reg := cr.mustAccept(t, tok, "the Secret's token")
	if reg.ClientID != "sensor-1" || reg.DeviceID != string(cur.UID) || !slices.Equal(reg.Roles, dc.Spec.Roles) || !reg.ExpiresAt.Equal(expires) {
		t.Errorf("registration = %+v, want client sensor-1, device %s, roles %v, expiry %s", reg, cur.UID, dc.Spec.Roles, expires)
	}
	if reg.Hash != cr.hashOf(t, tok) {
		t.Errorf("registered hash %s is not the realm's hash of the Secret's token", reg.Hash)
	}
	// Only the hash is stored: no key or value in Redis holds the secret.
	parsed, _ := token.ParseDeviceToken(tok)
	raw := cr.srv.Client()
	keys, err := raw.Keys(t.Context(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		dump, err := raw.Dump(t.Context(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(k, parsed.Secret) || strings.Contains(dump, parsed.Secret) {
			t.Errorf("Redis key %s holds the token's secret", k)
		}
	}

	if cur.Status.ClientID != "sensor-1" || cur.Status.DeviceID != string(cur.UID) || cur.Status.SecretName != "sensor-1-credentials" {
		t.Errorf("status = %+v", cur.Status)
	}
	if cur.Status.TokenExpiresAt == nil || !cur.Status.TokenExpiresAt.Time.Equal(expires) {
		t.Errorf("status.tokenExpiresAt = %v, want %s", cur.Status.TokenExpiresAt, expires)
	}
	issued := parseAnnotationTime(sec.Annotations[annotationIssuedAt])
	if cur.Status.LastRotationTime == nil || !cur.Status.LastRotationTime.Time.Equal(issued) {
		t.Errorf("status.lastRotationTime = %v, want the token's issue time %s", cur.Status.LastRotationTime, issued)
	}
	if !slices.Contains(cur.Finalizers, deviceClientFinalizer) {
		t.Errorf("finalizers = %v", cur.Finalizers)
	}
	if cur.Generation != 1 {
		t.Errorf("the spec was written: generation %d", cur.Generation)
	}
	waitEvent(t, dc, "Registered")
}

// countingRecorder counts the events a reconciler emits.
type countingRecorder struct{ n atomic.Int64 }

func (c *countingRecorder) Eventf(runtime.Object, runtime.Object, string, string, string, string, ...any) {
	c.n.Add(1)
}

// TestDeviceClientNoOpReconcileWritesNothing: verifying a registered client costs Redis
// reads and no Kubernetes API write, and emits no event.
func TestDeviceClientNoOpReconcileWritesNothing(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t)
	dc := createClient(t, newDeviceClient(cr.ns, "quiet", "realm"))
	waitReady(t, dc)

	var writes atomic.Int64
	events := &countingRecorder{}
	counting := &DeviceClientReconciler{Client: countingCachedClient(&writes), Scheme: testScheme, Recorder: events, ResyncPeriod: testClientResync}
	t.Cleanup(func() { _ = counting.registries.Close() })
	req := ctrl.Request{NamespacedName: keyOf(dc)}
	// The cache may still lag behind the manager's last writes; once it has them, nothing
	// remains to write.
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
	events.n.Store(0)
	for i := range 3 {
		writes.Store(0)
		res, err := counting.Reconcile(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if n := writes.Load(); n != 0 {
			t.Fatalf("no-op reconcile %d made %d API writes, want 0", i, n)
		}
		if res.RequeueAfter <= 0 || res.RequeueAfter > testClientResync {
			t.Errorf("RequeueAfter = %s, want the resync period %s at most", res.RequeueAfter, testClientResync)
		}
	}
	if n := events.n.Load(); n != 0 {
		t.Errorf("no-op reconciles emitted %d events", n)
	}
	t.Logf("no-op reconcile of a registered device client: 0 API writes, 0 events (3 runs)")

	// The counter is not blind: a reconcile that finds a rotation due writes the Secret and
	// the status, and says so. (Its clock runs 601 h ahead: the default period is 600 h.)
	counting.Now = func() time.Time { return time.Now().Add(601 * time.Hour) }
	writes.Store(0)
	if _, err := counting.Reconcile(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n < 2 {
		t.Errorf("a rotation made %d API writes, want the Secret and the status", n)
	}
	if n := events.n.Load(); n != 1 {
		t.Errorf("a rotation emitted %d events, want 1", n)
	}
}

// TestDeviceClientRotation: a token is replaced on its rotation deadline (sooner than the
// resync), the replaced token keeps working during the overlap and not after.
func TestDeviceClientRotation(t *testing.T) {
	t.Parallel()
	const lifespan, period, overlap = 8 * time.Second, 4 * time.Second, 2 * time.Second
	cr := newClientRealm(t)
	dc := newDeviceClient(cr.ns, "rotor", "realm")
	dc.Spec.TokenLifespan = &metav1.Duration{Duration: lifespan}
	dc.Spec.Rotation = authv1.RotationSpec{Period: &metav1.Duration{Duration: period}, Overlap: &metav1.Duration{Duration: overlap}}
	createClient(t, dc)
	waitReady(t, dc)
	first := credentialsOf(t, dc)
	tok1 := tokenOf(first)
	issued1 := parseAnnotationTime(first.Annotations[annotationIssuedAt])
	cr.mustAccept(t, tok1, "the first token")

	// Watch the Secret closely: the overlap is short.
	var second *corev1.Secret
	deadline := time.Now().Add(period + testClientResync + waitFor)
	for second == nil {
		if time.Now().After(deadline) {
			t.Fatal("the token was never rotated")
		}
		sec := &corev1.Secret{}
		if err := k8s.Get(t.Context(), keyOf(first), sec); err != nil {
			t.Fatal(err)
		}
		if tokenOf(sec) != tok1 {
			second = sec
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok2 := tokenOf(second)
	issued2 := parseAnnotationTime(second.Annotations[annotationIssuedAt])
	prevUntil := parseAnnotationTime(second.Annotations[annotationPreviousExpires])

	// On the deadline: a rotation left to the resync would come at least two seconds later.
	due := issued1.Add(period)
	if late := issued2.Sub(due); late < 0 || late > time.Second {
		t.Errorf("rotated %s after its deadline %s; want within a second", late, due)
	}
	if !prevUntil.Equal(issued2.Add(overlap)) {
		t.Errorf("the previous token is kept until %s, want the rotation %s plus the overlap", prevUntil, issued2)
	}
	if got := second.Annotations[annotationPreviousHash]; got != cr.hashOf(t, tok1) {
		t.Errorf("the Secret records previous hash %q, want the first token's", got)
	}

	// During the overlap both tokens work.
	if !time.Now().Before(prevUntil) {
		t.Fatalf("the rotation was seen only at %s, after the overlap ended at %s", time.Now().UTC(), prevUntil)
	}
	old := cr.mustAccept(t, tok1, "the replaced token during the overlap")
	if !old.ExpiresAt.Equal(prevUntil) {
		t.Errorf("the replaced token expires at %s, want the end of the overlap %s", old.ExpiresAt, prevUntil)
	}
	cur := cr.mustAccept(t, tok2, "the new token")
	if want := issued2.Add(lifespan); !cur.ExpiresAt.Equal(want) {
		t.Errorf("the new token expires at %s, want %s", cur.ExpiresAt, want)
	}

	// After the overlap the replaced token is refused, and gone from Redis; the new one works.
	time.Sleep(time.Until(prevUntil) + 50*time.Millisecond)
	cr.mustRefuse(t, tok1, "the replaced token after the overlap")
	if got := cr.tokensOf(t, "rotor"); len(got) != 1 || got[0].Hash != cr.hashOf(t, tok2) {
		t.Errorf("after the overlap Redis lists %d tokens, want only the new one", len(got))
	}
	cr.mustAccept(t, tok2, "the new token after the overlap")
	// The operator drops the rotation record once the overlap is over.
	eventually(t, waitFor, func() error {
		sec := &corev1.Secret{}
		if err := k8s.Get(t.Context(), keyOf(first), sec); err != nil {
			return err
		}
		if tokenOf(sec) != tok2 {
			return nil // rotated again meanwhile: the record is that rotation's
		}
		if _, ok := sec.Annotations[annotationPreviousHash]; ok {
			return errors.New("the Secret still records the previous token")
		}
		return nil
	})
	st := currentClient(t, dc).Status
	if st.LastRotationTime == nil || st.LastRotationTime.Time.Before(issued2) {
		t.Errorf("status.lastRotationTime = %v, want %s or later", st.LastRotationTime, issued2)
	}
	waitEvent(t, dc, "TokenRotated")
}

// TestDeviceClientFlushAllRepaired: a registration Redis lost is written again on the next
// resync, and the condition and an event say so.
func TestDeviceClientFlushAllRepaired(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t)
	dev := createClient(t, newDeviceClient(cr.ns, "flushed-device", "realm"))
	app := newDeviceClient(cr.ns, "flushed-app", "realm")
	app.Spec.Type, app.Spec.Roles = authv1.ClientApp, []string{"reader"}
	createClient(t, app)
	waitReady(t, dev)
	waitReady(t, app)
	tok := tokenOf(credentialsOf(t, dev))
	cr.mustAccept(t, tok, "the token before FLUSHALL")

	if err := cr.srv.Client().FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	flushed := time.Now()
	cr.mustRefuse(t, tok, "the token right after FLUSHALL")
	var took time.Duration
	for {
		_, devErr := cr.lookup(t, tok)
		_, appErr := cr.store.GetAppClient(t.Context(), "flushed-app")
		if devErr == nil && appErr == nil {
			took = time.Since(flushed)
			break
		}
		if time.Since(flushed) > testClientResync+waitFor {
			t.Fatalf("not repaired %s after FLUSHALL: device %v, app %v", time.Since(flushed), devErr, appErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the registrations reappeared %s after FLUSHALL (resync period %s)", took.Round(time.Millisecond), testClientResync)
	if limit := testClientResync + 2*time.Second; took > limit {
		t.Errorf("repair took %s, more than the resync period %s and some slack", took, testClientResync)
	}
	for _, dc := range []*authv1.DeviceClient{dev, app} {
		cur := waitClient(t, dc, authv1.ConditionRegistered, metav1.ConditionTrue, authv1.ReasonRegistrationRestored)
		if msg := conditionMessage(cur, authv1.ConditionRegistered); !strings.Contains(msg, "lost") {
			t.Errorf("%s: the condition does not say what happened: %q", dc.Name, msg)
		}
		waitEvent(t, dc, "RegistrationRestored")
	}
	// And a metric counts them, for the alert on Redis losing acknowledged data (this test's
	// namespace is its own, so the series is this test's alone).
	if n := testutil.ToFloat64(registrationsRestored.WithLabelValues(cr.ns, "realm")); n < 2 {
		t.Errorf("latch_deviceclient_registrations_restored_total{namespace=%q,realm=\"realm\"} = %v, want at least 2", cr.ns, n)
	}
	// Repaired, not replaced: the device keeps its token.
	if got := tokenOf(credentialsOf(t, dev)); got != tok {
		t.Error("the repair minted a new token instead of restoring the registered one")
	}
	got, err := cr.store.GetAppClient(t.Context(), "flushed-app")
	if err != nil || !slices.Equal(got.Roles, []string{"reader"}) {
		t.Errorf("restored app client = %+v, %v", got, err)
	}
}

// TestDeviceClientCreateNever: with create: Never nothing is invented while the user's Secret
// is missing or malformed; once it holds a token, that token is registered, and an edit of it
// swaps the registration.
func TestDeviceClientCreateNever(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t)
	dc := newDeviceClient(cr.ns, "external", "realm")
	dc.Spec.Credentials = authv1.CredentialsSpec{SecretName: "external-token", Create: authv1.CreateNever}
	createClient(t, dc)

	cur := waitClient(t, dc, authv1.ConditionCredentialsReady, metav1.ConditionFalse, authv1.ReasonSecretMissing)
	if msg := conditionMessage(cur, authv1.ConditionCredentialsReady); !strings.Contains(msg, "external-token") || !strings.Contains(msg, `"token"`) {
		t.Errorf("the condition does not say which Secret and key to provide: %q", msg)
	}
	waitClient(t, dc, authv1.ConditionRegistered, metav1.ConditionFalse, authv1.ReasonCredentialsNotReady)
	if n := len(cr.tokensOf(t, "external")); n != 0 {
		t.Errorf("%d tokens registered before the Secret exists", n)
	}
	for _, name := range []string{"external-token", "external-credentials"} {
		if err := k8s.Get(t.Context(), keyNS(cr.ns, name), &corev1.Secret{}); !kerrors.IsNotFound(err) {
			t.Errorf("Secret %s was invented while waiting (get: %v)", name, err)
		}
	}

	user := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "external-token", Namespace: cr.ns}, StringData: map[string]string{"token": "not-a-token"}}
	if err := k8s.Create(t.Context(), user); err != nil {
		t.Fatal(err)
	}
	cur = waitClient(t, dc, authv1.ConditionCredentialsReady, metav1.ConditionFalse, authv1.ReasonInvalidCredentials)
	if msg := conditionMessage(cur, authv1.ConditionCredentialsReady); !strings.Contains(msg, "head -c 32 /dev/urandom") {
		t.Errorf("the condition does not say how to make a token: %q", msg)
	}
	if n := len(cr.tokensOf(t, "external")); n != 0 {
		t.Errorf("%d tokens registered from a malformed Secret", n)
	}

	secret1, _ := token.New()
	tok1 := "external." + secret1
	setUserToken(t, user, tok1)
	cur = waitReady(t, dc)
	reg := cr.mustAccept(t, tok1, "the user's token")
	if left := time.Until(reg.ExpiresAt); left < 719*time.Hour {
		t.Errorf("a user's token without expiry is registered for %s, want one lifespan", left)
	}
	if cur.Status.TokenExpiresAt == nil || cur.Status.LastRotationTime == nil {
		t.Errorf("status does not report the token: %+v", cur.Status)
	}

	secret2, _ := token.New()
	tok2 := "external." + secret2
	setUserToken(t, user, tok2)
	eventually(t, waitFor, func() error {
		if _, err := cr.lookup(t, tok2); err != nil {
			return fmt.Errorf("the edited token is not registered: %w", err)
		}
		return nil
	})
	cr.eventuallyRefused(t, tok1, "the token replaced by the user's edit")
	waitEvent(t, dc, "CredentialsChanged")

	// The operator wrote neither the spec nor the user's Secret.
	if g := currentClient(t, dc).Generation; g != 1 {
		t.Errorf("the spec was written: generation %d", g)
	}
	got := &corev1.Secret{}
	if err := k8s.Get(t.Context(), keyOf(user), got); err != nil {
		t.Fatal(err)
	}
	for _, mf := range got.ManagedFields {
		if mf.Manager == fieldOwner {
			t.Errorf("the operator wrote the user's Secret: %+v", mf)
		}
	}
	if len(got.OwnerReferences) != 0 {
		t.Errorf("the operator took ownership of the user's Secret: %+v", got.OwnerReferences)
	}
}

func setUserToken(t *testing.T, sec *corev1.Secret, tok string) {
	t.Helper()
	cur := &corev1.Secret{}
	if err := k8s.Get(t.Context(), keyOf(sec), cur); err != nil {
		t.Fatal(err)
	}
	cur.Data = map[string][]byte{"token": []byte(tok)}
	if err := k8s.Update(t.Context(), cur); err != nil {
		t.Fatal(err)
	}
}

// TestDeviceClientCrossNamespace: a realm refuses clients of other namespaces unless its
// clientNamespaceSelector admits them; labelling the namespace admits the waiting client.
func TestDeviceClientCrossNamespace(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t, func(r *authv1.AuthRealm) {
		r.Spec.ClientNamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"latch.dev/realm-access": "granted"}}
	})
	other := newNamespace(t)
	dc := newDeviceClient(other, "visitor", "realm")
	dc.Spec.RealmRef.Namespace = cr.ns
	createClient(t, dc)

	cur := waitClient(t, dc, authv1.ConditionRefsResolved, metav1.ConditionFalse, authv1.ReasonNamespaceNotAdmitted)
	msg := conditionMessage(cur, authv1.ConditionRefsResolved)
	if !strings.Contains(msg, "latch.dev/realm-access=granted") || !strings.Contains(msg, other) {
		t.Errorf("the condition does not say what to change: %q", msg)
	}
	waitClient(t, dc, authv1.ConditionRegistered, metav1.ConditionFalse, authv1.ReasonRefsNotResolved)
	if n := len(cr.tokensOf(t, "visitor")); n != 0 {
		t.Errorf("%d tokens registered for a refused client", n)
	}
	if err := k8s.Get(t.Context(), keyNS(other, "visitor-credentials"), &corev1.Secret{}); !kerrors.IsNotFound(err) {
		t.Errorf("a refused client got credentials (get: %v)", err)
	}

	ns := &corev1.Namespace{}
	if err := k8s.Get(t.Context(), keyNS("", other), ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels = map[string]string{"latch.dev/realm-access": "granted"}
	if err := k8s.Update(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	labelled := time.Now()
	waitReady(t, dc)
	t.Logf("admitted %s after the namespace was labelled", time.Since(labelled))
	cr.mustAccept(t, tokenOf(credentialsOf(t, dc)), "the admitted client's token")
}

// TestDeviceClientSecretEditedAndDeleted: the Secret the operator wrote is the source of the
// registered token: an edited token replaces the registered one, and a deleted Secret is
// written again with a new token while the old one is revoked.
func TestDeviceClientSecretEditedAndDeleted(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t)
	dc := createClient(t, newDeviceClient(cr.ns, "kiosk", "realm"))
	waitReady(t, dc)
	sec := credentialsOf(t, dc)
	tok1 := tokenOf(sec)

	secret, _ := token.New()
	edited := "kiosk." + secret
	sec.Data[credKeyToken] = []byte(edited)
	if err := k8s.Update(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		if _, err := cr.lookup(t, edited); err != nil {
			return fmt.Errorf("the edited token is not registered: %w", err)
		}
		return nil
	})
	cr.eventuallyRefused(t, tok1, "the token replaced by an edit")
	if got := tokenOf(credentialsOf(t, dc)); got != edited {
		t.Error("the operator reverted the edited token")
	}
	waitEvent(t, dc, "CredentialsChanged")

	if err := k8s.Delete(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	var recreated string
	eventually(t, waitFor, func() error {
		cur := &corev1.Secret{}
		if err := k8s.Get(t.Context(), keyOf(sec), cur); err != nil {
			return err
		}
		if recreated = tokenOf(cur); recreated == edited {
			return errors.New("the Secret still holds the deleted token")
		}
		return nil
	})
	cr.mustAccept(t, recreated, "the token of the re-created Secret")
	cr.eventuallyRefused(t, edited, "the token of the deleted Secret")
	waitEvent(t, dc, "CredentialsRecreated")
	waitReady(t, dc)
}

// TestDeviceClientDeletion: deleting a client deregisters it and revokes its tokens, unless
// its deletion policy is Orphan.
func TestDeviceClientDeletion(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t)
	doomed := createClient(t, newDeviceClient(cr.ns, "doomed", "realm"))
	kept := newDeviceClient(cr.ns, "kept", "realm")
	kept.Spec.DeletionPolicy = authv1.DeletionOrphan
	createClient(t, kept)
	app := newDeviceClient(cr.ns, "doomed-app", "realm")
	app.Spec.Type = authv1.ClientApp
	createClient(t, app)
	for _, dc := range []*authv1.DeviceClient{doomed, kept, app} {
		waitReady(t, dc)
	}
	doomedTok, keptTok := tokenOf(credentialsOf(t, doomed)), tokenOf(credentialsOf(t, kept))

	for _, dc := range []*authv1.DeviceClient{doomed, kept, app} {
		if err := k8s.Delete(t.Context(), dc); err != nil {
			t.Fatal(err)
		}
	}
	for _, dc := range []*authv1.DeviceClient{doomed, kept, app} {
		waitGone(t, dc)
	}
	cr.mustRefuse(t, doomedTok, "the deleted client's token")
	if n := len(cr.tokensOf(t, "doomed")); n != 0 {
		t.Errorf("%d tokens of the deleted client remain", n)
	}
	if _, err := cr.store.GetAppClient(t.Context(), "doomed-app"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the deleted app client is still registered: %v", err)
	}
	cr.mustAccept(t, keptTok, "the orphaned client's token")
	waitEvent(t, doomed, "Deregistered")
	waitEvent(t, kept, "RegistrationOrphaned")
}

// TestDeviceClientDeletionWithRealmGone: a client whose realm was deleted is still released:
// its registration is removed through the connection kept from when the realm existed, and
// when that Redis cannot be reached either, the deletion completes anyway.
func TestDeviceClientDeletionWithRealmGone(t *testing.T) {
	t.Parallel()
	for _, redisUp := range []bool{true, false} {
		t.Run(fmt.Sprintf("redis up %v", redisUp), func(t *testing.T) {
			cr := newClientRealm(t)
			dc := createClient(t, newDeviceClient(cr.ns, "stranded", "realm"))
			waitReady(t, dc)
			tok := tokenOf(credentialsOf(t, dc))
			if !redisUp {
				cr.srv.Stop()
			}
			if err := k8s.Delete(t.Context(), cr.realm); err != nil {
				t.Fatal(err)
			}
			waitGone(t, cr.realm)
			waitClient(t, dc, authv1.ConditionRefsResolved, metav1.ConditionFalse, authv1.ReasonRealmNotFound)
			if err := k8s.Delete(t.Context(), dc); err != nil {
				t.Fatal(err)
			}
			waitGone(t, dc)
			if redisUp {
				cr.mustRefuse(t, tok, "the token of a client deleted after its realm")
				waitEvent(t, dc, "Deregistered")
			} else {
				waitEvent(t, dc, "DeregistrationAbandoned")
			}
		})
	}
}

// TestAppClientRegisteredWithRoles: an app client is registered with its roles, which follow
// the spec.
func TestAppClientRegisteredWithRoles(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t)
	dc := newDeviceClient(cr.ns, "mobile", "realm")
	dc.Spec.Type, dc.Spec.Roles = authv1.ClientApp, []string{"reader", "writer"}
	createClient(t, dc)
	cur := waitReady(t, dc)
	got, err := cr.store.GetAppClient(t.Context(), "mobile")
	if err != nil || !slices.Equal(got.Roles, []string{"reader", "writer"}) {
		t.Fatalf("app client = %+v, %v; want roles reader, writer", got, err)
	}
	if cur.Status.SecretName != "" || cur.Status.DeviceID != "" || cur.Status.TokenExpiresAt != nil {
		t.Errorf("an app client reports device fields: %+v", cur.Status)
	}
	if err := k8s.Get(t.Context(), keyNS(cr.ns, "mobile-credentials"), &corev1.Secret{}); !kerrors.IsNotFound(err) {
		t.Errorf("an app client got a credentials Secret (get: %v)", err)
	}
	waitClient(t, dc, authv1.ConditionCredentialsReady, metav1.ConditionTrue, authv1.ReasonCredentialsNotRequired)

	cur.Spec.Roles = []string{"reader"}
	if err := k8s.Update(t.Context(), cur); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		got, err := cr.store.GetAppClient(t.Context(), "mobile")
		if err != nil || !slices.Equal(got.Roles, []string{"reader"}) {
			return fmt.Errorf("app client = %+v, %v; want roles reader", got, err)
		}
		return nil
	})
}

// TestDeviceClientIDConflict: two DeviceClients claiming one client id in one realm would
// overwrite each other; the older holds it, the newer is told to pick another id, and takes
// the id over when the older is deleted.
func TestDeviceClientIDConflict(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t, func(r *authv1.AuthRealm) { r.Spec.ClientNamespaceSelector = &metav1.LabelSelector{} })
	older := createClient(t, newDeviceClient(cr.ns, "shared", "realm"))
	waitReady(t, older)
	olderTok := tokenOf(credentialsOf(t, older))
	// Creation times have whole-second resolution: make the second one strictly newer.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))

	other := newNamespace(t)
	newer := newDeviceClient(other, "shared", "realm")
	newer.Spec.RealmRef.Namespace = cr.ns
	createClient(t, newer)
	cur := waitClient(t, newer, authv1.ConditionRefsResolved, metav1.ConditionFalse, authv1.ReasonClientIDConflict)
	if msg := conditionMessage(cur, authv1.ConditionRefsResolved); !strings.Contains(msg, cr.ns+"/shared") || !strings.Contains(msg, "spec.clientID") {
		t.Errorf("the condition does not name the holder and the fix: %q", msg)
	}
	// The holder's registration is untouched by the newcomer, even across its resyncs.
	time.Sleep(testClientResync + 500*time.Millisecond)
	cr.mustAccept(t, olderTok, "the holder's token")
	if n := len(cr.tokensOf(t, "shared")); n != 1 {
		t.Errorf("%d tokens registered for the shared id, want the holder's only", n)
	}

	if err := k8s.Delete(t.Context(), older); err != nil {
		t.Fatal(err)
	}
	waitGone(t, older)
	waitReady(t, newer)
	cr.mustAccept(t, tokenOf(credentialsOf(t, newer)), "the new holder's token")
	cr.eventuallyRefused(t, olderTok, "the deleted holder's token")
}

// TestDeviceClientRedisDown: while the realm's Redis is down the condition says so and
// nothing is deleted or replaced; when it is back the client is registered as before.
func TestDeviceClientRedisDown(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t)
	dc := createClient(t, newDeviceClient(cr.ns, "patient", "realm"))
	waitReady(t, dc)
	tok := tokenOf(credentialsOf(t, dc))

	cr.srv.Stop()
	cur := waitClient(t, dc, authv1.ConditionRegistered, metav1.ConditionUnknown, authv1.ReasonRedisUnavailable)
	if msg := conditionMessage(cur, authv1.ConditionRegistered); !strings.Contains(msg, "nothing was changed") {
		t.Errorf("the condition does not say the registration was left alone: %q", msg)
	}
	if got := tokenOf(credentialsOf(t, dc)); got != tok {
		t.Error("an outage replaced the token")
	}

	cr.srv.Restart()
	waitClient(t, dc, authv1.ConditionRegistered, metav1.ConditionTrue, authv1.ReasonRegistered)
	cr.mustAccept(t, tok, "the token after the outage")
	if got := tokenOf(credentialsOf(t, dc)); got != tok {
		t.Error("the recovery replaced the token")
	}

	// A deletion during an outage waits for Redis: the finalizer keeps the object until its
	// tokens are revoked, and the condition says how to let it go without that.
	cr.srv.Stop()
	if err := k8s.Delete(t.Context(), dc); err != nil {
		t.Fatal(err)
	}
	cur = waitClient(t, dc, authv1.ConditionRegistered, metav1.ConditionUnknown, authv1.ReasonDeletionBlocked)
	if msg := conditionMessage(cur, authv1.ConditionRegistered); !strings.Contains(msg, "deletionPolicy to Orphan") {
		t.Errorf("the condition does not say how to let the deletion finish: %q", msg)
	}
	cr.srv.Restart()
	waitGone(t, dc)
	cr.mustRefuse(t, tok, "the token of a client deleted during an outage")
}

// TestDeviceClientWaitsForManagedRedis: a client of a realm whose managed Redis is not ready
// yet does not reach for it (its Service name would not resolve, and the cluster's DNS would
// cache that for the realm's servers starting at the same moment); it says what it waits for,
// and goes on as soon as the realm's RedisReady turns true.
func TestDeviceClientWaitsForManagedRedis(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	realm := createRealm(t, newRealm(ns, "managed"))
	dc := createClient(t, newDeviceClient(ns, "early", "managed"))
	cur := waitClient(t, dc, authv1.ConditionRegistered, metav1.ConditionFalse, authv1.ReasonRealmNotReady)
	if msg := conditionMessage(cur, authv1.ConditionRegistered); !strings.Contains(msg, "waiting for the realm's managed Redis") {
		t.Errorf("Registered says %q, want what it waits for", msg)
	}
	// What the StatefulSet controller would report once the Redis pod is ready (envtest runs
	// none): the realm's RedisReady turns true, and the client now tries the Redis, which does
	// not exist here.
	sts := &appsv1.StatefulSet{}
	get(t, ns, redisName(realm), sts)
	sts.Status.Replicas, sts.Status.ReadyReplicas, sts.Status.AvailableReplicas = 1, 1, 1
	if err := k8s.Status().Update(t.Context(), sts); err != nil {
		t.Fatal(err)
	}
	waitClient(t, dc, authv1.ConditionRegistered, metav1.ConditionUnknown, authv1.ReasonRedisUnavailable)
}
