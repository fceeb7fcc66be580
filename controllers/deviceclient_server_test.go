package controllers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/token"
)

// These tests close the loop of issue 5: the tokens the operator mints are judged by a real
// `latch server` process reading the realm's Redis with the realm's generated key, exactly as
// the realm's pods do — not by looking into Redis.

// realmServer starts an auth server for cr's realm with the bearerToken dialect at /api,
// changed by edit if given.
func realmServer(t *testing.T, cr *clientRealm, edit ...func(*config.Config)) *servertest.Server {
	t.Helper()
	keys := &corev1.Secret{}
	get(t, cr.ns, keysSecretName(cr.realm), keys)
	keyFile := filepath.Join(t.TempDir(), "token-hash-key")
	if err := os.WriteFile(keyFile, keys.Data[keyTokenHashKey], 0o600); err != nil {
		t.Fatal(err)
	}
	return servertest.Start(t, servertest.Options{Redis: cr.srv, Config: func(c *config.Config) {
		c.TokenHashKey = config.Secret{File: keyFile}
		c.Redis.KeyPrefix = cr.realm.Spec.Redis.External.KeyPrefix
		c.Protocols.BearerToken = &config.BearerToken{Prefix: "/api"}
		for _, e := range edit {
			e(c)
		}
	}})
}

// introspection is bearerToken's GET /auth answer.
type introspection struct {
	Status struct {
		Code string `json:"code"`
	} `json:"status"`
	Content struct {
		Type     string  `json:"type"`
		Expires  string  `json:"expires"`
		UserID   *string `json:"user_id"`
		DeviceID *string `json:"device_id"`
		ClientID string  `json:"client_id"`
	} `json:"content"`
}

func introspect(t *testing.T, s *servertest.Server, tok string) (int, introspection) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.PublicURL+"/api/auth", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out introspection
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("introspection body: %v", err)
	}
	return resp.StatusCode, out
}

func serverAccepts(t *testing.T, s *servertest.Server, tok, what string) introspection {
	t.Helper()
	code, got := introspect(t, s, tok)
	if code != http.StatusOK || got.Content.Type != "device" {
		t.Fatalf("%s: the server answered %d %+v, want 200 type device", what, code, got)
	}
	return got
}

func serverEventuallyRefuses(t *testing.T, s *servertest.Server, tok, what string, within time.Duration) {
	t.Helper()
	eventually(t, within, func() error {
		if code, got := introspect(t, s, tok); code != http.StatusUnauthorized || got.Status.Code != "INVALID_TOKEN" {
			return fmt.Errorf("%s: the server answered %d %s, want 401 INVALID_TOKEN", what, code, got.Status.Code)
		}
		return nil
	})
}

// TestDeviceTokenJudgedByServer: the operator's token is accepted by the server's
// introspection, refused after FLUSHALL until the resync repairs it, and refused once the
// DeviceClient is deleted.
func TestDeviceTokenJudgedByServer(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t)
	s := realmServer(t, cr)
	dc := createClient(t, newDeviceClient(cr.ns, "meter", "realm"))
	ready := waitReady(t, dc)
	tok := tokenOf(credentialsOf(t, dc))

	got := serverAccepts(t, s, tok, "the minted token")
	if got.Content.UserID != nil || got.Content.DeviceID == nil || *got.Content.DeviceID != ready.Status.DeviceID || got.Content.ClientID != "meter" {
		t.Errorf("introspection = %+v, want user_id null, device_id %q, client_id meter", got.Content, ready.Status.DeviceID)
	}
	expires, err := time.Parse(time.RFC3339, got.Content.Expires)
	if err != nil || !expires.Equal(ready.Status.TokenExpiresAt.Time.Truncate(time.Second)) {
		t.Errorf("expires = %q, want status.tokenExpiresAt %s", got.Content.Expires, ready.Status.TokenExpiresAt)
	}

	// Redis loses everything: the server refuses (fails closed), the resync repairs, the same
	// token works again.
	if err := cr.srv.Client().FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	serverEventuallyRefuses(t, s, tok, "the token after FLUSHALL", 2*time.Second)
	flushed := time.Now()
	eventually(t, testClientResync+waitFor, func() error {
		if code, _ := introspect(t, s, tok); code != http.StatusOK {
			return fmt.Errorf("not repaired yet (%d)", code)
		}
		return nil
	})
	t.Logf("the server accepted the token again %s after FLUSHALL (resync period %s)", time.Since(flushed).Round(time.Millisecond), testClientResync)

	if err := k8s.Delete(t.Context(), currentClient(t, dc)); err != nil {
		t.Fatal(err)
	}
	serverEventuallyRefuses(t, s, tok, "the token after the DeviceClient was deleted", waitFor)
}

// TestDeviceTokenRotationJudgedByServer: across a rotation the server accepts both tokens
// during the overlap and only the new one after it.
func TestDeviceTokenRotationJudgedByServer(t *testing.T) {
	t.Parallel()
	const lifespan, period, overlap = 8 * time.Second, 4 * time.Second, 2 * time.Second
	cr := newClientRealm(t)
	s := realmServer(t, cr)
	dc := newDeviceClient(cr.ns, "rotating-meter", "realm")
	dc.Spec.TokenLifespan = &metav1.Duration{Duration: lifespan}
	dc.Spec.Rotation = authv1.RotationSpec{Period: &metav1.Duration{Duration: period}, Overlap: &metav1.Duration{Duration: overlap}}
	createClient(t, dc)
	waitReady(t, dc)
	first := credentialsOf(t, dc)
	tok1 := tokenOf(first)
	serverAccepts(t, s, tok1, "the first token")

	var second *corev1.Secret
	eventually(t, period+testClientResync+waitFor, func() error {
		sec := &corev1.Secret{}
		if err := k8s.Get(t.Context(), keyOf(first), sec); err != nil {
			return err
		}
		if tokenOf(sec) == tok1 {
			return fmt.Errorf("not rotated yet")
		}
		second = sec
		return nil
	})
	tok2 := tokenOf(second)
	prevUntil := parseAnnotationTime(second.Annotations[annotationPreviousExpires])
	if time.Now().Before(prevUntil) {
		serverAccepts(t, s, tok1, "the replaced token during the overlap")
	} else {
		t.Fatalf("the rotation was seen only after the overlap ended at %s", prevUntil)
	}
	serverAccepts(t, s, tok2, "the new token")
	time.Sleep(time.Until(prevUntil) + 100*time.Millisecond)
	serverEventuallyRefuses(t, s, tok1, "the replaced token after the overlap", time.Second)
	serverAccepts(t, s, tok2, "the new token after the overlap")
}

// TestUserProvidedTokenJudgedByServer: with create: Never the user's token is what the server
// accepts, and an edit swaps which token works.
func TestUserProvidedTokenJudgedByServer(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t)
	s := realmServer(t, cr)
	dc := newDeviceClient(cr.ns, "provided", "realm")
	dc.Spec.Credentials = authv1.CredentialsSpec{SecretName: "provided-token", Create: authv1.CreateNever}
	createClient(t, dc)

	tok1 := "provided." + mustSecret(t)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "provided-token", Namespace: cr.ns}, Data: map[string][]byte{credKeyToken: []byte(tok1)}}
	if err := k8s.Create(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		if code, _ := introspect(t, s, tok1); code != http.StatusOK {
			return fmt.Errorf("the user's token is not accepted yet (%d)", code)
		}
		return nil
	})

	tok2 := "provided." + mustSecret(t)
	setUserToken(t, sec, tok2)
	eventually(t, waitFor, func() error {
		if code, _ := introspect(t, s, tok2); code != http.StatusOK {
			return fmt.Errorf("the edited token is not accepted yet (%d)", code)
		}
		return nil
	})
	serverEventuallyRefuses(t, s, tok1, "the token replaced by the user's edit", waitFor)
}

// mustSecret makes a fresh 256-bit secret as a user would for a Secret they provide.
func mustSecret(t *testing.T) string {
	t.Helper()
	s, err := token.New()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keyTokenLogin registers a user through keyToken with app client `client` and returns the
// Basic credentials (key, token) and the refresh token.
func keyTokenLogin(t *testing.T, s *servertest.Server, client, email string) (key, tok, refresh string) {
	t.Helper()
	body := fmt.Sprintf(`{"client":%q,"email":%q,"password":"correct horse battery staple","firstName":"Ada","lastName":"Lovelace"}`, client, email)
	code, out := keyTokenCall(t, s, http.MethodPost, "/kt/users", body, "", "")
	if code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("register %s through client %s: %d %v", email, client, code, out)
	}
	return out["key"], out["token"], out["refresh"]
}

// keyTokenCall sends a keyToken request, with Basic key:token when key is set, and returns the
// status and the string fields of the answer.
func keyTokenCall(t *testing.T, s *servertest.Server, method, path, body, key, tok string) (int, map[string]string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.PublicURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.SetBasicAuth(key, tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatalf("%s %s: body: %v", method, path, err)
	}
	out := map[string]string{}
	for k, v := range raw {
		if str, ok := v.(string); ok {
			out[k] = str
		}
	}
	return resp.StatusCode, out
}

// TestAppClientSessionsEndWithTheClient: deleting an app client's DeviceClient ends the
// keyToken sessions opened with it, on a real server: the access token and the refresh token
// stop working at once, not at their own expiry. A client deleted with deletionPolicy Orphan
// keeps its sessions, as do the sessions of other clients.
func TestAppClientSessionsEndWithTheClient(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t)
	s := realmServer(t, cr, func(c *config.Config) {
		c.Protocols.KeyToken = &config.KeyToken{Prefix: "/kt"}
		c.Clients.RequireRegistered = true
	})
	doomed := newDeviceClient(cr.ns, "doomed-app", "realm")
	doomed.Spec.Type = authv1.ClientApp
	orphaned := newDeviceClient(cr.ns, "orphaned-app", "realm")
	orphaned.Spec.Type = authv1.ClientApp
	orphaned.Spec.DeletionPolicy = authv1.DeletionOrphan
	survivor := newDeviceClient(cr.ns, "other-app", "realm")
	survivor.Spec.Type = authv1.ClientApp
	for _, dc := range []*authv1.DeviceClient{doomed, orphaned, survivor} {
		createClient(t, dc)
		waitReady(t, dc)
	}
	type login struct{ key, tok, refresh string }
	var sessions []login
	for i, client := range []string{"doomed-app", "doomed-app", "orphaned-app", "other-app"} {
		k, tk, r := keyTokenLogin(t, s, client, fmt.Sprintf("user%d@example.com", i))
		sessions = append(sessions, login{k, tk, r})
	}
	me := func(l login) int {
		code, _ := keyTokenCall(t, s, http.MethodGet, "/kt/users", "", l.key, l.tok)
		return code
	}
	for i, l := range sessions {
		if code := me(l); code != http.StatusOK {
			t.Fatalf("session %d before deletion: GET /kt/users = %d, want 200", i, code)
		}
	}

	for _, dc := range []*authv1.DeviceClient{doomed, orphaned} {
		if err := k8s.Delete(t.Context(), dc); err != nil {
			t.Fatal(err)
		}
	}
	for _, dc := range []*authv1.DeviceClient{doomed, orphaned} {
		waitGone(t, dc)
	}
	// The finalizer ended the sessions before it released the object: no waiting here.
	for i, l := range sessions[:2] {
		if code := me(l); code != http.StatusUnauthorized {
			t.Errorf("session %d of the deleted client: GET /kt/users = %d, want 401", i, code)
		}
		body := fmt.Sprintf(`{"client":"doomed-app","key":%q,"refresh":%q}`, l.key, l.refresh)
		if code, _ := keyTokenCall(t, s, http.MethodPost, "/kt/users/token/refresh", body, "", ""); code != http.StatusUnauthorized {
			t.Errorf("session %d of the deleted client: refresh = %d, want 401", i, code)
		}
	}
	for i, l := range sessions[2:] {
		if code := me(l); code != http.StatusOK {
			t.Errorf("session %d of a kept client: GET /kt/users = %d, want 200", i+2, code)
		}
	}
	if ev := waitEvent(t, doomed, "Deregistered"); !strings.Contains(ev.Note, "ended 2 sessions") {
		t.Errorf("Deregistered event %q, want it to count the 2 ended sessions", ev.Note)
	}
}
