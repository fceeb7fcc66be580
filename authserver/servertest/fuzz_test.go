package servertest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/dialect"
	"github.com/latchauth/latch/authserver/servertest"
)

// fatalTB stands in for a test to see a helper fail: it records the first fatal message and
// ends the goroutine as a real test's Fatal does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

// fatalOf runs do against a fatalTB and returns its fatal message ("" when it passed).
func fatalOf(t *testing.T, do func(tb testing.TB)) string {
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		do(tb)
	}()
	<-done
	return tb.msg
}

// fuzzHandler mounts test routes through FuzzHandler, as a dialect at the root: /echo answers
// what it got, /empty 204, /text a body that is not JSON, /panic panics.
func fuzzHandler(t *testing.T) http.Handler {
	def := dialect.Definition{Name: "account", New: func(d dialect.Deps, _ config.Protocol) (dialect.Spec, error) {
		route := func(path string, f http.HandlerFunc) dialect.Route {
			return dialect.Route{Method: http.MethodPost, Path: path, Name: strings.TrimPrefix(path, "/"), Handler: f}
		}
		return dialect.Spec{
			Errors: func(w http.ResponseWriter, _ *http.Request, status int, msg string) {
				w.WriteHeader(status)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
			},
			Routes: []dialect.Route{
				route("/echo", func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					_ = json.NewEncoder(w).Encode(map[string]string{
						"realm": d.Config.Realm, "query": r.URL.RawQuery, "auth": r.Header.Get("Authorization"), "body": string(body),
					})
				}),
				route("/empty", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }),
				route("/text", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "not JSON") }),
				route("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") }),
			},
		}, nil
	}}
	return servertest.FuzzHandler(t, func(c *config.Config) {
		c.Realm = "edited"
		c.Protocols.Account = &config.Account{Prefix: "/"}
	}, def)
}

func TestServeFuzz(t *testing.T) {
	h := fuzzHandler(t)
	echo := servertest.FuzzRoute{Method: http.MethodPost, Path: "/echo", Allowed: []int{200}}
	rec, out := servertest.ServeFuzz[map[string]string](t, h, echo, "a=%zz", "{", http.Header{"Authorization": {"Basic x"}})
	if rec.Code != http.StatusOK || rec.Header().Get("X-Request-Id") == "" {
		t.Errorf("%d %v: want 200 through the middleware (X-Request-Id)", rec.Code, rec.Header())
	}
	want := map[string]string{"realm": "edited", "query": "a=%zz", "auth": "Basic x", "body": "{"}
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Errorf("the handler saw %v, want %v", out, want)
	}

	if _, out := servertest.ServeFuzz[map[string]string](t, h, servertest.FuzzRoute{Method: http.MethodPost, Path: "/empty", Allowed: []int{204}}, "", "", nil); out != nil {
		t.Errorf("a 204 decoded to %v", out)
	}

	for _, tc := range []struct {
		route servertest.FuzzRoute
		want  string
	}{
		{servertest.FuzzRoute{Method: http.MethodPost, Path: "/echo", Allowed: []int{201}}, "= 200"},
		{servertest.FuzzRoute{Method: http.MethodPost, Path: "/text", Allowed: []int{200}}, "does not decode"},
		{servertest.FuzzRoute{Method: http.MethodPost, Path: "/panic", Allowed: []int{200, 400}}, "= 500"},
	} {
		msg := fatalOf(t, func(tb testing.TB) { servertest.ServeFuzz[map[string]any](tb, h, tc.route, "", "", nil) })
		if !strings.Contains(msg, tc.route.String()) || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: failure %q, want one naming the route and %q", tc.route, msg, tc.want)
		}
	}
}
