package dialect_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/dialect"
	"github.com/latchauth/latch/authserver/httpx"
)

// testDef is a dialect named like account (so the config can enable it) whose handlers answer
// their route's name and whose errors are "E<status>:<msg>".
func testDef(push []byte) dialect.Definition {
	return dialect.Definition{Name: "account", ClosePush: push, New: func(dialect.Deps, config.Protocol) (dialect.Spec, error) {
		answer := func(name string) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(name)) }
		}
		return dialect.Spec{
			Errors: func(w http.ResponseWriter, _ *http.Request, status int, msg string) {
				w.WriteHeader(status)
				_, _ = w.Write([]byte("E" + http.StatusText(status) + ":" + msg))
			},
			AllowHeaders: []string{"Content-Type"},
			Routes: []dialect.Route{
				dialect.HandleFunc(http.MethodDelete, "/thing", "thing", answer("delete")),
				dialect.HandleFunc(http.MethodPost, "", "root", answer("root")),
				dialect.HandleFunc(http.MethodGet, "/thing", "thing", answer("get")),
				dialect.HandleFunc(http.MethodPatch, "/thing", "thing", answer("patch")),
			},
		}, nil
	}}
}

func mount(t *testing.T, def dialect.Definition, prefix string) (*http.ServeMux, error) {
	t.Helper()
	cfg := &config.Config{AllowedOrigins: []string{"https://app.example"}}
	if prefix != "" {
		cfg.Protocols.Account = &config.Account{Prefix: prefix}
	}
	mux := http.NewServeMux()
	return mux, def.Mount(mux, dialect.Deps{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
}

// serve sends one request through the server's middleware, which the dialect's error shape
// needs (the wrapper records it in the request's Info).
func serve(mux *http.ServeMux, method, path string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	(&httpx.Middleware{Logger: slog.New(slog.DiscardHandler)}).Wrap(mux).ServeHTTP(w, r)
	return w
}

func TestMountServesRoutesUnderThePrefix(t *testing.T) {
	for _, prefix := range []string{"/acc", "/"} {
		mux, err := mount(t, testDef(nil), prefix)
		if err != nil {
			t.Fatal(err)
		}
		thing := strings.TrimSuffix(prefix, "/") + "/thing"
		for _, tc := range []struct{ method, path, want string }{
			{http.MethodPost, prefix, "root"},
			{http.MethodGet, thing, "get"},
			{http.MethodPatch, thing, "patch"},
			{http.MethodDelete, thing, "delete"},
			{http.MethodGet, strings.TrimSuffix(prefix, "/") + "/nothing", "ENot Found:not found"},
		} {
			if got := serve(mux, tc.method, tc.path).Body.String(); got != tc.want {
				t.Errorf("prefix %q: %s %s = %q, want %q", prefix, tc.method, tc.path, got, tc.want)
			}
		}
		// The preflight lists the routes' methods in one fixed order, whatever the routes' order.
		pre := serve(mux, http.MethodOptions, thing, "Origin", "https://app.example", "Access-Control-Request-Method", "PATCH")
		if got := pre.Header().Get("Access-Control-Allow-Methods"); got != "GET, POST, PATCH, DELETE" {
			t.Errorf("prefix %q: preflight allows %q, want the routes' methods in order", prefix, got)
		}
	}
}

func TestMountRefuses(t *testing.T) {
	if _, err := mount(t, testDef(nil), ""); err == nil || !strings.Contains(err.Error(), "not enabled") {
		t.Errorf("mounting a dialect the config does not enable: %v, want refused", err)
	}
	if _, err := mount(t, testDef([]byte("bye")), "/acc"); err == nil || !strings.Contains(err.Error(), "no socket hub") {
		t.Errorf("mounting a dialect with sockets and no hub: %v, want refused", err)
	}
}
