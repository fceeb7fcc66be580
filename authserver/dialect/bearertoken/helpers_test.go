package bearertoken_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
	"github.com/latchauth/latch/authserver/token"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// start runs a server with the dialect at /api beside the account dialect at /account (which
// registers the users: this dialect has no registration).
func start(t *testing.T, edit ...func(*config.Config)) *servertest.Server {
	t.Helper()
	return servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
		c.Protocols.BearerToken = &config.BearerToken{}
		for _, e := range edit {
			e(c)
		}
	}})
}

// client is one client of a server.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newClient(t *testing.T, s *servertest.Server) *client {
	return &client{t: t, base: s.PublicURL, hc: servertest.Client()}
}

// response is a finished request, its body read.
type response = servertest.Response

// do sends a request to the server's path; body and header are as servertest.Do takes them
// (header lists name, value pairs; a name may repeat).
func (c *client) do(method, path string, body any, header ...string) response {
	c.t.Helper()
	return servertest.Do(c.t, c.hc, method, c.base+path, body, header...)
}

func (c *client) post(path string, body any) response { return c.do(http.MethodPost, path, body) }

// withBearer sends method /api/auth with the token.
func (c *client) withBearer(method, tok string) response {
	return c.do(method, "/api/auth", nil, "Authorization", "Bearer "+tok)
}

// envelope is the dialect's response shape.
type envelope struct {
	Status struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	Content json.RawMessage `json:"content"`
}

// wantStatus checks an envelope response with httpStatus and code, and returns it.
func wantStatus(t *testing.T, r response, httpStatus int, code string) envelope {
	t.Helper()
	where := r.Request.Method + " " + r.Request.URL.Path
	if r.StatusCode != httpStatus {
		t.Fatalf("%s = %d %s, want %d %s", where, r.StatusCode, r.Body, httpStatus, code)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type = %q, want application/json", where, ct)
	}
	var e envelope
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("%s: body %q is not the envelope: %v", where, r.Body, err)
	}
	if e.Status.Code != code || e.Status.Message == "" {
		t.Fatalf("%s: status = %+v, want code %s and a message", where, e.Status, code)
	}
	if httpStatus != http.StatusOK && len(e.Content) != 0 {
		t.Errorf("%s: an error with content: %s", where, r.Body)
	}
	return e
}

// wantOK checks a 200 envelope with code OK and decodes its content into dst (nil: none).
func wantOK(t *testing.T, r response, dst any) {
	t.Helper()
	e := wantStatus(t, r, http.StatusOK, "OK")
	if e.Status.Message != "OK" {
		t.Errorf("status.message = %q, want OK", e.Status.Message)
	}
	if dst == nil {
		if len(e.Content) != 0 {
			t.Errorf("unexpected content %s", e.Content)
		}
		return
	}
	if err := json.Unmarshal(e.Content, dst); err != nil {
		t.Fatalf("content %s: %v", e.Content, err)
	}
}

// issued is the content of POST /auth.
type issued struct {
	Token   string `json:"token"`
	Created string `json:"created"`
	Expires string `json:"expires"`
}

// info is the content of GET /auth.
type info struct {
	Type     string   `json:"type"`
	Created  string   `json:"created"`
	Expires  string   `json:"expires"`
	UserID   *string  `json:"user_id"`
	DeviceID *string  `json:"device_id"`
	ClientID string   `json:"client_id"`
	Roles    []string `json:"roles"`
}

// introspect checks GET /auth with tok: 200, both IDs present (one may be null), times in
// RFC 3339 UTC.
func introspect(t *testing.T, c *client, tok string) info {
	t.Helper()
	r := c.withBearer(http.MethodGet, tok)
	var raw map[string]json.RawMessage
	wantOK(t, r, &raw)
	for _, k := range []string{"type", "created", "expires", "user_id", "device_id"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("introspection %s has no %q", r.Body, k)
		}
	}
	var in info
	wantOK(t, r, &in)
	servertest.ParseUTC(t, in.Created)
	servertest.ParseUTC(t, in.Expires)
	return in
}

const password = "correct horse battery"

// register creates an active account through the account dialect and returns its user ID.
func register(t *testing.T, s *servertest.Server, login string) string {
	t.Helper()
	r := newClient(t, s).post("/account/register", map[string]string{"login": login, "password": password})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("register %s = %d %s", login, r.StatusCode, r.Body)
	}
	var u struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(r.Body, &u); err != nil || u.ID == "" {
		t.Fatalf("register %s: %s (%v)", login, r.Body, err)
	}
	return u.ID
}

// login signs in through POST /api/auth and returns the content.
func login(t *testing.T, c *client, login string) issued {
	t.Helper()
	var is issued
	wantOK(t, c.post("/api/auth", map[string]string{"login": login, "password": password}), &is)
	return is
}

// registry is the server's client registry, written as the operator writes it: the server's
// Redis under its key prefix, tokens hashed with its token hash key.
type registry struct {
	t      *testing.T
	store  *redisstore.Store
	hasher *token.Hasher
}

func openRegistry(t *testing.T, s *servertest.Server) *registry {
	t.Helper()
	st, err := redisstore.Open(s.Config.Redis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	h, err := token.NewHasherFromConfig(s.Config.TokenHashKey)
	if err != nil {
		t.Fatal(err)
	}
	return &registry{t: t, store: st, hasher: h}
}

// mint registers a new device token for clientID, living ttl, and returns it.
func (g *registry) mint(clientID, deviceID string, roles []string, ttl time.Duration) (string, store.DeviceToken) {
	g.t.Helper()
	secret, err := token.New()
	if err != nil {
		g.t.Fatal(err)
	}
	now := time.Now()
	dt := store.DeviceToken{
		Hash: g.hasher.Hash(secret), ClientID: clientID, DeviceID: deviceID, Roles: roles,
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	if err := g.store.PutDeviceToken(g.t.Context(), dt, now); err != nil {
		g.t.Fatal(err)
	}
	return token.DeviceToken{ClientID: clientID, Secret: secret}.String(), dt
}

// revocations subscribes to the realm's revocation events and returns a function that
// collects those arriving within wait.
func (g *registry) revocations() func(wait time.Duration) []store.Revocation {
	g.t.Helper()
	ctx, cancel := context.WithCancel(g.t.Context())
	g.t.Cleanup(cancel)
	ch, err := g.store.SubscribeRevocations(ctx)
	if err != nil {
		g.t.Fatal(err)
	}
	return func(wait time.Duration) []store.Revocation {
		var out []store.Revocation
		timer := time.NewTimer(wait)
		defer timer.Stop()
		for {
			select {
			case ev := <-ch:
				if !ev.Resync {
					out = append(out, ev.Revocation)
				}
			case <-timer.C:
				return out
			}
		}
	}
}
