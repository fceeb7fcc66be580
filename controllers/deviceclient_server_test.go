package controllers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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

// realmServer starts an auth server for cr's realm with the bearerToken dialect at /api.
func realmServer(t *testing.T, cr *clientRealm) *servertest.Server {
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
