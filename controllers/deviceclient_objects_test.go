package controllers

import (
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// The pure functions of the DeviceClient reconciler, table-tested without a client.

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testDeviceClient() *authv1.DeviceClient {
	return &authv1.DeviceClient{
		ObjectMeta: metav1.ObjectMeta{Name: "sensor", Namespace: "apps", UID: "uid-1", Generation: 3},
		Spec: authv1.DeviceClientSpec{
			RealmRef: authv1.RealmReference{Name: "main"},
			Type:     authv1.ClientDevice,
			Roles:    []string{"telemetry"},
		},
	}
}

func TestDeviceClientNames(t *testing.T) {
	dc := testDeviceClient()
	if got := clientIDOf(dc); got != "sensor" {
		t.Errorf("client id defaults to the name: got %q", got)
	}
	if got := credentialsSecretName(dc); got != "sensor-credentials" {
		t.Errorf("secret name default: got %q", got)
	}
	if got := realmKeyOf(dc).String(); got != "apps/main" {
		t.Errorf("realm key defaults to the client's namespace: got %q", got)
	}
	dc.Spec.ClientID = "gateway-7"
	dc.Spec.Credentials.SecretName = "gw"
	dc.Spec.RealmRef.Namespace = "auth"
	if clientIDOf(dc) != "gateway-7" || credentialsSecretName(dc) != "gw" || realmKeyOf(dc).String() != "auth/main" {
		t.Errorf("explicit names ignored: %q %q %q", clientIDOf(dc), credentialsSecretName(dc), realmKeyOf(dc))
	}
	if got := claimKey(dc); got != "auth/main/gateway-7" {
		t.Errorf("claim key = %q", got)
	}
	if deviceIDOf(dc) != "uid-1" {
		t.Errorf("device id is the object's UID, got %q", deviceIDOf(dc))
	}
}

func TestRotationDue(t *testing.T) {
	for name, tc := range map[string]struct {
		timings tokenTimings
		life    time.Duration // of the token, which may predate a change of the spec
		want    time.Duration // after issue
	}{
		"at the period":                           {tokenTimings{Lifespan: 720 * time.Hour, Period: 600 * time.Hour, Overlap: time.Hour}, 720 * time.Hour, 600 * time.Hour},
		"early enough for the whole overlap":      {tokenTimings{Lifespan: 6 * time.Second, Period: 5500 * time.Millisecond, Overlap: time.Second}, 6 * time.Second, 5 * time.Second},
		"a token minted under a longer lifespan":  {tokenTimings{Lifespan: time.Hour, Period: 50 * time.Minute, Overlap: 5 * time.Minute}, 2 * time.Hour, 50 * time.Minute},
		"a token minted under a shorter lifespan": {tokenTimings{Lifespan: 2 * time.Hour, Period: 90 * time.Minute, Overlap: 5 * time.Minute}, time.Hour, 55 * time.Minute},
	} {
		t.Run(name, func(t *testing.T) {
			got := rotationDue(epoch, epoch.Add(tc.life), tc.timings)
			if want := epoch.Add(tc.want); !got.Equal(want) {
				t.Errorf("rotationDue = %s after issue, want %s", got.Sub(epoch), tc.want)
			}
		})
	}
}

func TestTimingsDefaults(t *testing.T) {
	got := timingsOf(testDeviceClient())
	if got != (tokenTimings{Lifespan: 720 * time.Hour, Period: 600 * time.Hour, Overlap: time.Hour}) {
		t.Errorf("defaults = %+v, want the CRD's", got)
	}
}

func TestAdmitsNamespace(t *testing.T) {
	realm := func(sel *metav1.LabelSelector) *authv1.AuthRealm {
		return &authv1.AuthRealm{ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: "auth"}, Spec: authv1.AuthRealmSpec{ClientNamespaceSelector: sel}}
	}
	team := &metav1.LabelSelector{MatchLabels: map[string]string{"latch.dev/clients": "yes"}}
	for name, tc := range map[string]struct {
		realm   *authv1.AuthRealm
		ns      string
		labels  map[string]string
		want    bool
		wantErr bool
	}{
		"own namespace without a selector":      {realm: realm(nil), ns: "auth", want: true},
		"own namespace, selector not matching":  {realm: realm(team), ns: "auth", want: true},
		"another namespace without a selector":  {realm: realm(nil), ns: "apps", want: false},
		"empty selector admits every namespace": {realm: realm(&metav1.LabelSelector{}), ns: "apps", want: true},
		"matching labels":                       {realm: realm(team), ns: "apps", labels: map[string]string{"latch.dev/clients": "yes"}, want: true},
		"labels that do not match":              {realm: realm(team), ns: "apps", labels: map[string]string{"latch.dev/clients": "no"}, want: false},
		"invalid selector": {realm: realm(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Sometimes"}}}),
			ns: "apps", wantErr: true},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := admitsNamespace(tc.realm, tc.ns, tc.labels)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("admitted = %v, want %v", got, tc.want)
			}
		})
	}
	if msg := notAdmittedMessage(realm(team), "apps"); !strings.Contains(msg, "latch.dev/clients=yes") || !strings.Contains(msg, "label the namespace") {
		t.Errorf("the message does not say which label to add: %q", msg)
	}
	if msg := notAdmittedMessage(realm(nil), "apps"); !strings.Contains(msg, "clientNamespaceSelector") {
		t.Errorf("the message does not name the selector to set: %q", msg)
	}
}

func TestRegistrationHolder(t *testing.T) {
	at := func(name, ns string, minutes int) *authv1.DeviceClient {
		return &authv1.DeviceClient{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(minutes) * time.Minute))}}
	}
	deleting := at("deleting", "a", 0)
	deleting.DeletionTimestamp = &metav1.Time{Time: epoch}
	for name, tc := range map[string]struct {
		claims []claimant
		want   string // namespace/name, or "" for none
	}{
		"none":                 {nil, ""},
		"the oldest":           {[]claimant{{at("new", "a", 5), true}, {at("old", "b", 1), true}}, "b/old"},
		"same age: by name":    {[]claimant{{at("y", "a", 1), true}, {at("x", "a", 1), true}}, "a/x"},
		"same age: by ns":      {[]claimant{{at("x", "b", 1), true}, {at("x", "a", 1), true}}, "a/x"},
		"not admitted skipped": {[]claimant{{at("old", "b", 1), false}, {at("new", "a", 5), true}}, "a/new"},
		"deleting skipped":     {[]claimant{{deleting, true}, {at("new", "a", 5), true}}, "a/new"},
		"only refused ones":    {[]claimant{{at("old", "b", 1), false}, {deleting, true}}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			got := registrationHolder(tc.claims)
			gotName := ""
			if got != nil {
				gotName = got.Namespace + "/" + got.Name
			}
			if gotName != tc.want {
				t.Errorf("holder = %q, want %q", gotName, tc.want)
			}
		})
	}
}

func TestMintToken(t *testing.T) {
	now := epoch.Add(1500 * time.Millisecond)
	tok, err := mintToken("sensor", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := token.ParseDeviceToken(tok.Token)
	if err != nil || parsed.ClientID != "sensor" || parsed.Secret != tok.Secret {
		t.Fatalf("minted token %q does not parse as a token of sensor: %v", tok.Token, err)
	}
	if !tok.IssuedAt.Equal(epoch.Add(time.Second)) || !tok.ExpiresAt.Equal(epoch.Add(time.Second+time.Hour)) {
		t.Errorf("times = %s .. %s, want whole seconds from %s", tok.IssuedAt, tok.ExpiresAt, epoch.Add(time.Second))
	}
	again, _ := mintToken("sensor", now, time.Hour)
	if again.Secret == tok.Secret {
		t.Error("two mints returned the same secret")
	}
}

func credentialsSecret(data map[string]string, ann map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "apps", Annotations: ann}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func TestParseCredentials(t *testing.T) {
	secret, _ := token.New()
	valid := "sensor." + secret
	prevHash := strings.Repeat("h", 43)
	for name, tc := range map[string]struct {
		sec        *corev1.Secret
		owned      bool
		wantReason string
		check      func(t *testing.T, c credentials)
	}{
		"a bare token": {sec: credentialsSecret(map[string]string{"token": valid}, nil), check: func(t *testing.T, c credentials) {
			if c.Current.Token != valid || c.Current.Secret != secret || !c.Current.ExpiresAt.IsZero() {
				t.Errorf("current = %+v", c.Current)
			}
		}},
		"surrounding whitespace": {sec: credentialsSecret(map[string]string{"token": " " + valid + "\n"}, nil), check: func(t *testing.T, c credentials) {
			if c.Current.Token != valid {
				t.Errorf("token %q not trimmed", c.Current.Token)
			}
		}},
		"with expiry": {sec: credentialsSecret(map[string]string{"token": valid, "expires": "2026-04-01T00:00:00Z"}, nil), check: func(t *testing.T, c credentials) {
			if !c.Current.ExpiresAt.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("expires = %s", c.Current.ExpiresAt)
			}
		}},
		"the operator's record, owned": {
			sec: credentialsSecret(map[string]string{"token": valid, "expires": "2026-04-01T00:00:00Z"}, map[string]string{
				annotationIssuedAt: "2026-03-01T00:00:00Z", annotationPreviousHash: prevHash,
				annotationPreviousIssuedAt: "2026-02-01T00:00:00Z", annotationPreviousExpires: "2026-03-01T01:00:00Z",
			}),
			owned: true,
			check: func(t *testing.T, c credentials) {
				if !c.Current.IssuedAt.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("issued = %s", c.Current.IssuedAt)
				}
				if p := c.Previous; p == nil || p.Hash != prevHash || !p.ExpiresAt.Equal(time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC)) {
					t.Errorf("previous = %+v", p)
				}
			},
		},
		"the operator's record is not read from a user's Secret": {
			sec: credentialsSecret(map[string]string{"token": valid}, map[string]string{annotationPreviousHash: prevHash, annotationPreviousExpires: "2026-03-01T01:00:00Z"}),
			check: func(t *testing.T, c credentials) {
				if c.Previous != nil {
					t.Errorf("a user's annotation kept a previous token registered: %+v", c.Previous)
				}
			},
		},
		"no token key":         {sec: credentialsSecret(map[string]string{"tok": valid}, nil), wantReason: authv1.ReasonSecretKeyMissing},
		"not a token":          {sec: credentialsSecret(map[string]string{"token": "hunter2"}, nil), wantReason: authv1.ReasonInvalidCredentials},
		"a short secret":       {sec: credentialsSecret(map[string]string{"token": "sensor.abc"}, nil), wantReason: authv1.ReasonInvalidCredentials},
		"another client's":     {sec: credentialsSecret(map[string]string{"token": "gateway." + secret}, nil), wantReason: authv1.ReasonInvalidCredentials},
		"an unreadable expiry": {sec: credentialsSecret(map[string]string{"token": valid, "expires": "tomorrow"}, nil), wantReason: authv1.ReasonInvalidCredentials},
	} {
		t.Run(name, func(t *testing.T) {
			c, p := parseCredentials(tc.sec, "sensor", tc.owned)
			if tc.wantReason != "" {
				if p == nil || p.Reason != tc.wantReason {
					t.Fatalf("problem = %+v, want reason %s", p, tc.wantReason)
				}
				if strings.Contains(p.Message, secret) {
					t.Errorf("the message repeats the secret: %q", p.Message)
				}
				if p.Reason == authv1.ReasonInvalidCredentials && !strings.Contains(p.Message, "tr '+/' '-_'") && !strings.Contains(p.Message, "RFC 3339") {
					t.Errorf("the message does not say how to make a token: %q", p.Message)
				}
				return
			}
			if p != nil {
				t.Fatalf("unexpected problem %+v", p)
			}
			tc.check(t, c)
		})
	}
}

// TestHowToMakeTokenWorks runs the recipe a condition message gives, as a user would paste
// it into a shell, and checks that what it prints is a token of the client.
func TestHowToMakeTokenWorks(t *testing.T) {
	msg := howToMakeToken("sensor")
	_, recipe, ok := strings.Cut(msg, "make one with: ")
	if !ok {
		t.Fatalf("the message gives no command: %q", msg)
	}
	for range 20 { // random bytes: more than one run, to meet encodings with '+' and '/'
		out, err := exec.Command("sh", "-c", recipe).Output()
		if err != nil {
			t.Fatalf("recipe %q failed: %v", recipe, err)
		}
		tok, err := token.ParseDeviceToken(string(out))
		if err != nil || tok.ClientID != "sensor" {
			t.Fatalf("recipe printed %q, not a token of sensor: %v", out, err)
		}
	}
}

func TestBuildCredentialsSecret(t *testing.T) {
	dc := testDeviceClient()
	dc.Spec.Credentials.SecretTemplate = authv1.SecretTemplate{
		Labels:      map[string]string{"team": "iot", labelManagedBy: "someone-else"},
		Annotations: map[string]string{"reloader.stakater.com/match": "true"},
	}
	c := credentials{
		Current:  issuedToken{Token: "sensor.s", Secret: "s", IssuedAt: epoch, ExpiresAt: epoch.Add(time.Hour)},
		Previous: &previousToken{Hash: "h", IssuedAt: epoch.Add(-time.Hour), ExpiresAt: epoch.Add(time.Minute)},
	}
	sec := buildCredentialsSecret(dc, c)
	wantData := map[string]string{"client-id": "sensor", "device-id": "uid-1", "token": "sensor.s", "expires": "2026-03-01T13:00:00Z"}
	if len(sec.Data) != len(wantData) {
		t.Errorf("data keys = %v, want exactly %v", keysOf(sec.Data), wantData)
	}
	for k, v := range wantData {
		if string(sec.Data[k]) != v {
			t.Errorf("data[%s] = %q, want %q", k, sec.Data[k], v)
		}
	}
	if sec.Name != "sensor-credentials" || sec.Namespace != "apps" || sec.Type != corev1.SecretTypeOpaque {
		t.Errorf("secret %s/%s type %s", sec.Namespace, sec.Name, sec.Type)
	}
	if sec.Labels["team"] != "iot" || sec.Labels[labelManagedBy] != "latch-operator" {
		t.Errorf("labels = %v: want the template's, with the operator's own winning", sec.Labels)
	}
	wantAnn := map[string]string{
		"reloader.stakater.com/match": "true", annotationIssuedAt: "2026-03-01T12:00:00Z",
		annotationPreviousHash: "h", annotationPreviousIssuedAt: "2026-03-01T11:00:00Z", annotationPreviousExpires: "2026-03-01T12:01:00Z",
	}
	for k, v := range wantAnn {
		if sec.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, sec.Annotations[k], v)
		}
	}
	ref := metav1.GetControllerOf(sec)
	if ref == nil || ref.Kind != "DeviceClient" || ref.UID != dc.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("controller reference = %+v", ref)
	}

	c.Previous = nil
	if sec := buildCredentialsSecret(dc, c); sec.Annotations[annotationPreviousHash] != "" || sec.Annotations[annotationPreviousExpires] != "" {
		t.Errorf("without an overlap the previous token is not recorded: %v", sec.Annotations)
	}
	// What the builder writes, the parser reads back.
	sec = buildCredentialsSecret(dc, credentials{Current: issuedToken{Token: "sensor." + strings.Repeat("A", 43), IssuedAt: epoch, ExpiresAt: epoch.Add(time.Hour)}})
	back, p := parseCredentials(sec, "sensor", true)
	if p != nil || !back.Current.IssuedAt.Equal(epoch) || !back.Current.ExpiresAt.Equal(epoch.Add(time.Hour)) {
		t.Errorf("round trip = %+v, %+v", back, p)
	}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestPlanDeviceTokens(t *testing.T) {
	tok := func(hash string, exp time.Duration, roles ...string) store.DeviceToken {
		return store.DeviceToken{Hash: hash, ClientID: "sensor", DeviceID: "uid-1", Roles: roles, CreatedAt: epoch, ExpiresAt: epoch.Add(exp)}
	}
	cur, prev := tok("cur", time.Hour, "r"), tok("prev", time.Minute, "r")
	hashesOf := func(rs []registration) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Token.Hash)
		}
		return out
	}
	for name, tc := range map[string]struct {
		desired    []registration
		observed   []store.DeviceToken
		wantPut    []string
		wantRevoke []string
	}{
		"first registration":              {desired: []registration{{Token: cur}}, wantPut: []string{"cur"}},
		"in place":                        {desired: []registration{{Token: cur}, {Token: prev}}, observed: []store.DeviceToken{prev, cur}},
		"flushed":                         {desired: []registration{{Token: cur}, {Token: prev}}, wantPut: []string{"cur", "prev"}},
		"a replaced token is revoked":     {desired: []registration{{Token: cur}}, observed: []store.DeviceToken{tok("old", time.Hour, "r")}, wantPut: []string{"cur"}, wantRevoke: []string{"old"}},
		"the overlap ended":               {desired: []registration{{Token: cur}}, observed: []store.DeviceToken{prev, cur}, wantRevoke: []string{"prev"}},
		"roles changed":                   {desired: []registration{{Token: tok("cur", time.Hour, "r", "w")}}, observed: []store.DeviceToken{cur}, wantPut: []string{"cur"}},
		"shortened at a rotation":         {desired: []registration{{Token: tok("cur", time.Minute, "r")}}, observed: []store.DeviceToken{cur}, wantPut: []string{"cur"}},
		"an expired desire is not put":    {desired: []registration{{Token: tok("gone", 0, "r")}, {Token: cur}}, observed: []store.DeviceToken{cur}},
		"created time alone is no change": {desired: []registration{{Token: func() store.DeviceToken { c := cur; c.CreatedAt = epoch.Add(time.Second); return c }()}}, observed: []store.DeviceToken{cur}},
	} {
		t.Run(name, func(t *testing.T) {
			p := planDeviceTokens(tc.desired, tc.observed, epoch)
			if got := hashesOf(p.Put); !slices.Equal(got, tc.wantPut) {
				t.Errorf("put %q, want %q", got, tc.wantPut)
			}
			if !slices.Equal(p.Revoke, tc.wantRevoke) {
				t.Errorf("revoke %q, want %q", p.Revoke, tc.wantRevoke)
			}
		})
	}
}

func TestUserTokenExpiry(t *testing.T) {
	const life = 24 * time.Hour
	now := epoch.Add(300 * time.Millisecond)
	fresh := epoch.Add(life)
	for name, tc := range map[string]struct {
		registered time.Time
		want       time.Time
	}{
		"not registered yet":            {time.Time{}, fresh},
		"plenty left: kept":             {epoch.Add(20 * time.Hour), epoch.Add(20 * time.Hour)},
		"half gone: renewed":            {epoch.Add(12 * time.Hour), fresh},
		"nearly gone: renewed":          {epoch.Add(time.Minute), fresh},
		"registered longer: kept as is": {epoch.Add(48 * time.Hour), epoch.Add(48 * time.Hour)},
	} {
		t.Run(name, func(t *testing.T) {
			if got := userTokenExpiry(tc.registered, now, life); !got.Equal(tc.want) {
				t.Errorf("expiry = %s, want %s", got, tc.want)
			}
		})
	}
	if got := userTokenRenewal(fresh, life); !got.Equal(epoch.Add(12 * time.Hour)) {
		t.Errorf("renewal = %s, want half a lifespan before expiry", got)
	}
}

func TestRequeueAfter(t *testing.T) {
	for name, tc := range map[string]struct {
		deadlines []time.Time
		want      time.Duration
	}{
		"resync":                    {nil, time.Minute},
		"a sooner deadline":         {[]time.Time{epoch.Add(10 * time.Second), epoch.Add(30 * time.Second)}, 10 * time.Second},
		"a later deadline":          {[]time.Time{epoch.Add(time.Hour)}, time.Minute},
		"past and zero are ignored": {[]time.Time{epoch.Add(-time.Second), {}, epoch}, time.Minute},
		"a floor against spinning":  {[]time.Time{epoch.Add(time.Millisecond)}, 100 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			if got := requeueAfter(epoch, time.Minute, tc.deadlines...); got != tc.want {
				t.Errorf("requeueAfter = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestRenderedRealmMountsWhatTheOperatorReads: every file the rendered config names for the
// realm's Redis and token hash key is a mounted Secret key, and the operator reads the same
// Secret keys to reach the store as the servers do.
func TestRenderedRealmMountsWhatTheOperatorReads(t *testing.T) {
	external := &authv1.AuthRealm{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "auth"}, Spec: authv1.AuthRealmSpec{
		Redis: &authv1.RedisSpec{External: &authv1.ExternalRedisSpec{
			Addresses: []string{"redis:6379"}, KeyPrefix: "p:",
			PasswordSecretRef: &authv1.SecretKeyRef{Name: "redis-auth", Key: "password"},
			TLS:               &authv1.RedisTLSSpec{CASecretRef: &authv1.SecretKeyRef{Name: "redis-ca", Key: "ca.crt"}},
		}},
	}}
	managed := &authv1.AuthRealm{ObjectMeta: metav1.ObjectMeta{Name: "mgd", Namespace: "auth"}}
	for _, tc := range []struct {
		realm *authv1.AuthRealm
		want  map[string]string // file -> secret/key
	}{
		{external, map[string]string{"password": "redis-auth/password", "ca": "redis-ca/ca.crt", "key": "ext-keys/token-hash-key"}},
		{managed, map[string]string{"password": "mgd-keys/redis-password", "key": "mgd-keys/token-hash-key"}},
	} {
		rendered := renderConfig(tc.realm)
		files := map[string]string{"password": rendered.Config.Redis.Password.File, "key": rendered.Config.TokenHashKey.File}
		if tls := rendered.Config.Redis.TLS; tls != nil {
			files["ca"] = tls.CAFile
		}
		reads := map[string]*secretFile{"password": rendered.Access.RedisPassword, "ca": rendered.Access.RedisCA, "key": &rendered.Access.TokenHashKey}
		for what, want := range tc.want {
			f, ok := mountedSecret(rendered, files[what])
			if !ok || f.Secret+"/"+f.Key != want {
				t.Errorf("%s: the %s file %q is mounted from %+v, want %s", tc.realm.Name, what, files[what], f, want)
			}
			if r := reads[what]; r == nil || *r != f {
				t.Errorf("%s: the operator reads the %s from %+v, the servers from %+v", tc.realm.Name, what, r, f)
			}
		}
		if tc.realm == managed && rendered.Access.RedisCA != nil {
			t.Errorf("%s: the operator reads a CA the realm does not set: %+v", tc.realm.Name, rendered.Access.RedisCA)
		}
	}
	if a := renderConfig(managed).Config.Redis.Addresses; len(a) != 1 || a[0] != "mgd-redis.auth.svc:6379" {
		t.Errorf("managed Redis address = %v", a)
	}
}

// mountedSecret finds the Secret key the rendered config mounts at file.
func mountedSecret(rendered renderedConfig, file string) (secretFile, bool) {
	for _, f := range rendered.Secrets {
		if path.Join(secretsDir, f.File) == file {
			return f, true
		}
	}
	return secretFile{}, false
}
