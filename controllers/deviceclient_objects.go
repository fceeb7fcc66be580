package controllers

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// Pure functions of the DeviceClient reconciler: names, the credentials Secret, the rotation
// schedule and the registration plan. None touches a client or reads a clock.

// Keys of a credentials Secret. A device reads token; the others say what it holds.
const (
	credKeyClientID = "client-id"
	credKeyDeviceID = "device-id"
	credKeyToken    = "token"
	credKeyExpires  = "expires"
)

// Annotations the operator keeps on a credentials Secret it writes. They are its record of
// the rotation, kept next to the token they describe: the issue time schedules the next
// rotation, and the previous token (its hash only) is re-registered if Redis loses it during
// the overlap, and is known to be the overlap token rather than a stale one to revoke.
const (
	annotationIssuedAt         = "latch.dev/token-issued-at"
	annotationPreviousHash     = "latch.dev/previous-token-hash"
	annotationPreviousIssuedAt = "latch.dev/previous-token-issued-at"
	annotationPreviousExpires  = "latch.dev/previous-token-expires"
)

// deviceClientFinalizer holds a DeviceClient until its registration is removed from Redis.
const deviceClientFinalizer = "latch.dev/deregister-client"

// CRD defaults, for objects stored before a default existed.
const (
	defaultTokenLifespan  = 720 * time.Hour
	defaultRotationPeriod = 600 * time.Hour
	defaultOverlap        = time.Hour
)

// clientIDOf is the id the client is registered under: spec.clientID, or the object's name.
func clientIDOf(dc *authv1.DeviceClient) string {
	if dc.Spec.ClientID != "" {
		return dc.Spec.ClientID
	}
	return dc.Name
}

// deviceIDOf is the device id registered with every token of a device client. The object's
// UID is stable across rotations and re-created Secrets, unique, and needs no storage.
func deviceIDOf(dc *authv1.DeviceClient) string { return string(dc.UID) }

// credentialsSecretName is the Secret that holds (or will hold) the device token.
func credentialsSecretName(dc *authv1.DeviceClient) string {
	if n := dc.Spec.Credentials.SecretName; n != "" {
		return n
	}
	return dc.Name + "-credentials"
}

// realmKeyOf is the realm the client names; an empty namespace means the client's own.
func realmKeyOf(dc *authv1.DeviceClient) types.NamespacedName {
	ns := dc.Spec.RealmRef.Namespace
	if ns == "" {
		ns = dc.Namespace
	}
	return types.NamespacedName{Namespace: ns, Name: dc.Spec.RealmRef.Name}
}

// claimKey identifies one registration: a client id in a realm. Two DeviceClients with the
// same claim key would overwrite each other's registration.
func claimKey(dc *authv1.DeviceClient) string {
	k := realmKeyOf(dc)
	return k.Namespace + "/" + k.Name + "/" + clientIDOf(dc)
}

func isDevice(dc *authv1.DeviceClient) bool { return dc.Spec.Type != authv1.ClientApp }

func createsCredentials(dc *authv1.DeviceClient) bool {
	return dc.Spec.Credentials.Create != authv1.CreateNever
}

func deletionPolicyOf(dc *authv1.DeviceClient) authv1.DeletionPolicy {
	if dc.Spec.DeletionPolicy == "" {
		return authv1.DeletionDelete
	}
	return dc.Spec.DeletionPolicy
}

// tokenTimings are a client's token durations with the CRD defaults filled in.
type tokenTimings struct {
	Lifespan, Period, Overlap time.Duration
}

func timingsOf(dc *authv1.DeviceClient) tokenTimings {
	return tokenTimings{
		Lifespan: authv1.DurationOr(dc.Spec.TokenLifespan, defaultTokenLifespan),
		Period:   authv1.DurationOr(dc.Spec.Rotation.Period, defaultRotationPeriod),
		Overlap:  authv1.DurationOr(dc.Spec.Rotation.Overlap, defaultOverlap),
	}
}

// rotationDue is when a token issued at issued and expiring at expires is replaced: at the
// rotation period, but never so late that the old token would expire inside the overlap
// (the overlap is the time devices have to pick up the new token).
func rotationDue(issued, expires time.Time, t tokenTimings) time.Time {
	due := issued.Add(t.Period)
	if latest := expires.Add(-t.Overlap); latest.Before(due) {
		due = latest
	}
	return due
}

// admitsNamespace reports whether realm accepts DeviceClients from a namespace with the given
// labels: its own namespace always, others only through clientNamespaceSelector.
func admitsNamespace(realm *authv1.AuthRealm, ns string, nsLabels map[string]string) (bool, error) {
	if ns == realm.Namespace {
		return true, nil
	}
	if realm.Spec.ClientNamespaceSelector == nil {
		return false, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(realm.Spec.ClientNamespaceSelector)
	if err != nil {
		return false, fmt.Errorf("spec.clientNamespaceSelector of AuthRealm %s/%s is invalid: %w", realm.Namespace, realm.Name, err)
	}
	return sel.Matches(labels.Set(nsLabels)), nil
}

// notAdmittedMessage tells the user what to change when a realm refuses a namespace.
func notAdmittedMessage(realm *authv1.AuthRealm, ns string) string {
	if realm.Spec.ClientNamespaceSelector == nil {
		return fmt.Sprintf("AuthRealm %s/%s admits DeviceClients of its own namespace only: set its spec.clientNamespaceSelector to select namespace %s, or create this DeviceClient in namespace %s",
			realm.Namespace, realm.Name, ns, realm.Namespace)
	}
	sel, _ := metav1.LabelSelectorAsSelector(realm.Spec.ClientNamespaceSelector)
	return fmt.Sprintf("AuthRealm %s/%s does not admit DeviceClients from namespace %s: label the namespace to match its spec.clientNamespaceSelector (%s), or widen the selector",
		realm.Namespace, realm.Name, ns, sel.String())
}

// claimant is a DeviceClient that claims a client id in a realm, and whether the realm
// admits its namespace.
type claimant struct {
	Client   *authv1.DeviceClient
	Admitted bool
}

// registrationHolder picks the DeviceClient whose registration a client id in a realm is:
// the oldest admitted one that is not being deleted, ties broken by namespace and name, so
// every reconcile of every claimant agrees without coordination. It returns nil when there is
// none.
func registrationHolder(claims []claimant) *authv1.DeviceClient {
	var live []*authv1.DeviceClient
	for _, c := range claims {
		if c.Admitted && c.Client.DeletionTimestamp.IsZero() {
			live = append(live, c.Client)
		}
	}
	if len(live) == 0 {
		return nil
	}
	sort.Slice(live, func(i, j int) bool {
		a, b := live[i], live[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return live[0]
}

// issuedToken is a device token as the credentials Secret holds it.
type issuedToken struct {
	// Token is the whole `<clientID>.<secret>` string handed to the device.
	Token     string
	Secret    string
	IssuedAt  time.Time
	ExpiresAt time.Time // zero: the Secret names none (a user-provided Secret)
}

// previousToken is the token a rotation replaced, known by its hash only; it stays
// registered until ExpiresAt, the end of the overlap.
type previousToken struct {
	Hash      string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// credentials is what a credentials Secret holds.
type credentials struct {
	Current  issuedToken
	Previous *previousToken
}

// mintToken returns a new device token for clientID, issued at now (whole seconds, so the
// times written to the Secret read back unchanged) and living for lifespan.
func mintToken(clientID string, now time.Time, lifespan time.Duration) (issuedToken, error) {
	secret, err := token.New()
	if err != nil {
		return issuedToken{}, err
	}
	issued := now.UTC().Truncate(time.Second)
	return issuedToken{
		Token:     token.DeviceToken{ClientID: clientID, Secret: secret}.String(),
		Secret:    secret,
		IssuedAt:  issued,
		ExpiresAt: issued.Add(lifespan),
	}, nil
}

// howToMakeToken is appended to every message about a malformed token.
func howToMakeToken(clientID string) string {
	return fmt.Sprintf(`it must hold "%s.<secret>" where <secret> is 32 random bytes in unpadded base64url; make one with: printf '%s.%%s' "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"`,
		clientID, clientID)
}

// parseCredentials reads a credentials Secret. A Secret the user must fix is a problem; the
// previous-token annotations are read only from Secrets the operator writes (owned).
func parseCredentials(sec *corev1.Secret, clientID string, owned bool) (credentials, *problem) {
	ref := sec.Namespace + "/" + sec.Name
	raw, ok := sec.Data[credKeyToken]
	if !ok {
		return credentials{}, &problem{authv1.ReasonSecretKeyMissing,
			fmt.Sprintf("Secret %s has no key %q: add it; %s", ref, credKeyToken, howToMakeToken(clientID))}
	}
	tok, err := token.ParseDeviceToken(strings.TrimSpace(string(raw)))
	if err != nil {
		// The parser's error never repeats the token, so it is safe in a condition.
		return credentials{}, &problem{authv1.ReasonInvalidCredentials,
			fmt.Sprintf("key %q of Secret %s is not a device token (%v): %s", credKeyToken, ref, err, howToMakeToken(clientID))}
	}
	if tok.ClientID != clientID {
		return credentials{}, &problem{authv1.ReasonInvalidCredentials,
			fmt.Sprintf("key %q of Secret %s is a token of client %q, not of this client %q: %s", credKeyToken, ref, tok.ClientID, clientID, howToMakeToken(clientID))}
	}
	c := credentials{Current: issuedToken{Token: tok.String(), Secret: tok.Secret}}
	if v, ok := sec.Data[credKeyExpires]; ok && len(v) > 0 {
		exp, err := time.Parse(time.RFC3339, strings.TrimSpace(string(v)))
		if err != nil {
			return credentials{}, &problem{authv1.ReasonInvalidCredentials,
				fmt.Sprintf("key %q of Secret %s is not an RFC 3339 time (2006-01-02T15:04:05Z): fix it or remove the key", credKeyExpires, ref)}
		}
		c.Current.ExpiresAt = exp.UTC()
	}
	if !owned {
		return c, nil
	}
	ann := sec.Annotations
	c.Current.IssuedAt = parseAnnotationTime(ann[annotationIssuedAt])
	if h := ann[annotationPreviousHash]; h != "" && store.ValidID(h) {
		if exp := parseAnnotationTime(ann[annotationPreviousExpires]); !exp.IsZero() {
			c.Previous = &previousToken{Hash: h, IssuedAt: parseAnnotationTime(ann[annotationPreviousIssuedAt]), ExpiresAt: exp}
		}
	}
	return c, nil
}

func parseAnnotationTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// buildCredentialsSecret is the Secret the operator writes for a device client: the token and
// what it belongs to, the user's template metadata, the operator's rotation record, and a
// controller reference so deleting the DeviceClient removes it.
func buildCredentialsSecret(dc *authv1.DeviceClient, c credentials) *corev1.Secret {
	lbls := map[string]string{}
	for k, v := range dc.Spec.Credentials.SecretTemplate.Labels {
		lbls[k] = v
	}
	lbls[labelManagedBy] = "latch-operator"
	lbls[labelPartOf] = "latch"
	ann := map[string]string{}
	for k, v := range dc.Spec.Credentials.SecretTemplate.Annotations {
		ann[k] = v
	}
	ann[annotationIssuedAt] = formatTime(c.Current.IssuedAt)
	if p := c.Previous; p != nil {
		ann[annotationPreviousHash] = p.Hash
		ann[annotationPreviousExpires] = formatTime(p.ExpiresAt)
		if !p.IssuedAt.IsZero() {
			ann[annotationPreviousIssuedAt] = formatTime(p.IssuedAt)
		}
	}
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            credentialsSecretName(dc),
			Namespace:       dc.Namespace,
			Labels:          lbls,
			Annotations:     ann,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(dc, authv1.GroupVersion.WithKind("DeviceClient"))},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			credKeyClientID: []byte(clientIDOf(dc)),
			credKeyDeviceID: []byte(deviceIDOf(dc)),
			credKeyToken:    []byte(c.Current.Token),
			credKeyExpires:  []byte(formatTime(c.Current.ExpiresAt)),
		},
	}
}

// registration is the desired state of one device token in Redis; Minted marks a token
// created by this reconcile (its absence from Redis is news, not a loss).
type registration struct {
	Token  store.DeviceToken
	Minted bool
}

// deviceTokenPlan says how to bring a client's device tokens in Redis to the desired set.
type deviceTokenPlan struct {
	// Put are desired tokens missing from Redis or registered with other metadata.
	Put []registration
	// Revoke are hashes registered for the client that are not desired.
	Revoke []string
}

// planDeviceTokens compares the desired registrations with what Redis holds. Desired tokens
// that have expired by now are dropped, not registered.
func planDeviceTokens(desired []registration, observed []store.DeviceToken, now time.Time) deviceTokenPlan {
	var p deviceTokenPlan
	have := make(map[string]store.DeviceToken, len(observed))
	for _, o := range observed {
		have[o.Hash] = o
	}
	want := map[string]bool{}
	for _, d := range desired {
		if !d.Token.ExpiresAt.After(now) {
			continue
		}
		want[d.Token.Hash] = true
		if o, ok := have[d.Token.Hash]; !ok || !sameRegistration(o, d.Token) {
			p.Put = append(p.Put, d)
		}
	}
	for _, o := range observed {
		if !want[o.Hash] {
			p.Revoke = append(p.Revoke, o.Hash)
		}
	}
	return p
}

// sameRegistration compares what a server reads from a registration. CreatedAt is reported
// by introspection but never decides anything, so a difference in it alone is not rewritten.
func sameRegistration(a, b store.DeviceToken) bool {
	return a.Hash == b.Hash && a.ClientID == b.ClientID && a.DeviceID == b.DeviceID &&
		slices.Equal(a.Roles, b.Roles) && a.ExpiresAt.UnixMilli() == b.ExpiresAt.UnixMilli()
}

// sameAppClient compares an app client registration with the desired one.
func sameAppClient(a, b store.AppClient) bool {
	return a.ID == b.ID && slices.Equal(a.Roles, b.Roles)
}

// userTokenExpiry is the registered expiry of a user-provided token that names none: it is
// registered for one lifespan and renewed once half of that has passed, so it stays valid
// while the Secret holds it and the operator runs, and dies within a lifespan if either stops.
func userTokenExpiry(registered time.Time, now time.Time, lifespan time.Duration) time.Time {
	if !registered.IsZero() && registered.Sub(now) > lifespan/2 {
		return registered
	}
	return now.UTC().Truncate(time.Second).Add(lifespan)
}

// userTokenRenewal is when userTokenExpiry will next extend a registration expiring at exp.
func userTokenRenewal(exp time.Time, lifespan time.Duration) time.Time {
	return exp.Add(-lifespan / 2)
}

// requeueAfter is the wait until the next reconcile: the resync period, or sooner when a
// deadline (a rotation, the end of an overlap, a renewal) falls before it. Deadlines already
// past are ignored (this reconcile handled them); a short floor keeps a deadline that the
// clock has barely reached from spinning.
func requeueAfter(now time.Time, resync time.Duration, deadlines ...time.Time) time.Duration {
	const floor = 100 * time.Millisecond
	wait := resync
	for _, d := range deadlines {
		if d.IsZero() || !d.After(now) {
			continue
		}
		if w := d.Sub(now); w < wait {
			wait = w
		}
	}
	return max(wait, floor)
}
