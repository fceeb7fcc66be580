package httpx

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/latchauth/latch/authserver/metrics"
)

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testErrors is a dialect error shape recognisable in tests.
func testErrors(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	WriteJSON(w, status, map[string]any{"test_code": status, "test_error": msg})
}

// newTestServer serves h behind the middleware and a test dialect on a real server.
func newTestServer(t *testing.T, cors CORS, h http.Handler) (*httptest.Server, *logBuffer, *metrics.Metrics) {
	t.Helper()
	logs := &logBuffer{}
	m := metrics.New()
	d := &Dialect{Name: "test", Errors: testErrors, CORS: cors}
	wrapped, err := d.Wrap(h)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	Mount(mux, "/t", wrapped)
	mw := &Middleware{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: m}
	srv := httptest.NewServer(mw.Wrap(mux))
	t.Cleanup(srv.Close)
	return srv, logs, m
}

func send(t *testing.T, method, url string, body io.Reader, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func counterValue(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, mt := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range mt.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metric
				}
			}
			sum += value(mt)
		}
	}
	return sum
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

func TestMiddlewareLogsAndMeasures(t *testing.T) {
	var rt Router
	rt.HandleFunc(http.MethodGet, "/t/hello", "hello", func(w http.ResponseWriter, r *http.Request) {
		if RequestID(r.Context()) == "" || ClientIP(r.Context()) != "127.0.0.1" || DialectName(r.Context()) != "test" {
			t.Errorf("context: id %q, ip %q, dialect %q", RequestID(r.Context()), ClientIP(r.Context()), DialectName(r.Context()))
		}
		WriteJSON(w, http.StatusOK, map[string]string{"hello": "world"})
	})
	srv, logs, m := newTestServer(t, CORS{}, &rt)

	resp, body := send(t, http.MethodGet, srv.URL+"/t/hello?token=SECRET-IN-QUERY", nil, map[string]string{"X-Request-Id": "req-1"})
	if resp.StatusCode != 200 || !strings.Contains(body, "world") {
		t.Fatalf("GET = %d %s", resp.StatusCode, body)
	}
	for k, want := range map[string]string{"X-Request-Id": "req-1", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	send(t, http.MethodGet, srv.URL+"/t/missing", nil, nil)

	lines := logs.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2:\n%s", len(lines), logs)
	}
	l := lines[0]
	for k, want := range map[string]any{"msg": "http request", "request_id": "req-1", "method": "GET", "path": "/t/hello",
		"dialect": "test", "route": "hello", "status": float64(200), "client_ip": "127.0.0.1"} {
		if l[k] != want {
			t.Errorf("log %s = %v, want %v", k, l[k], want)
		}
	}
	if strings.Contains(logs.String(), "SECRET-IN-QUERY") {
		t.Error("the access log holds the query string")
	}
	if got := counterValue(t, m, "latch_http_requests_total", map[string]string{"dialect": "test", "route": "hello", "code": "200"}); got != 1 {
		t.Errorf("requests{hello,200} = %v, want 1", got)
	}
	if got := counterValue(t, m, "latch_http_requests_total", map[string]string{"dialect": "test", "route": metrics.NoRoute, "code": "404"}); got != 1 {
		t.Errorf("requests{unmatched,404} = %v, want 1", got)
	}
	if got := counterValue(t, m, "latch_http_request_duration_seconds", map[string]string{"route": "hello"}); got != 1 {
		t.Errorf("duration samples{hello} = %v, want 1", got)
	}
}

func TestMiddlewareRecoversPanics(t *testing.T) {
	var rt Router
	rt.HandleFunc(http.MethodGet, "/t/panic", "panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	rt.HandleFunc(http.MethodGet, "/t/late", "late", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		panic("after the header")
	})
	rt.HandleFunc(http.MethodGet, "/t/ok", "ok", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv, logs, _ := newTestServer(t, CORS{}, &rt)

	resp, body := send(t, http.MethodGet, srv.URL+"/t/panic", nil, nil)
	if resp.StatusCode != 500 || !strings.Contains(body, `"test_code":500`) {
		t.Errorf("panic = %d %s, want 500 in the dialect's shape", resp.StatusCode, body)
	}
	if resp, _ := send(t, http.MethodGet, srv.URL+"/t/late", nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Errorf("late panic = %d, want the status already sent", resp.StatusCode)
	}
	// The server is still serving.
	if resp, _ := send(t, http.MethodGet, srv.URL+"/t/ok", nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Errorf("after panics = %d, want 204", resp.StatusCode)
	}
	var panics int
	for _, l := range logs.lines(t) {
		if l["msg"] == "panic serving request" {
			panics++
			if !strings.Contains(l["stack"].(string), "middleware_test.go") {
				t.Errorf("panic log without the stack: %v", l)
			}
		}
	}
	if panics != 2 {
		t.Errorf("%d panics logged, want 2", panics)
	}
}

func TestMiddlewareCapsBody(t *testing.T) {
	var rt Router
	rt.HandleFunc(http.MethodPost, "/t/echo", "echo", func(w http.ResponseWriter, r *http.Request) {
		_, err := ReadBody(r, 1<<30) // the handler asks for more than the middleware allows
		WriteError(w, r, StatusOf(err), "read")
	})
	srv, _, _ := newTestServer(t, CORS{}, &rt)
	// Declared too large: refused by the dialect wrapper before the handler runs.
	resp, body := send(t, http.MethodPost, srv.URL+"/t/echo", strings.NewReader(strings.Repeat("x", MaxBodyBytes+1)), nil)
	if resp.StatusCode != 413 || !strings.Contains(body, `"test_code":413`) {
		t.Errorf("declared oversize = %d %s, want 413", resp.StatusCode, body)
	}
	// Streamed too large: the middleware's cap stops the read.
	resp, _ = send(t, http.MethodPost, srv.URL+"/t/echo", io.MultiReader(strings.NewReader(strings.Repeat("x", MaxBodyBytes+1))), nil)
	if resp.StatusCode != 413 {
		t.Errorf("streamed oversize = %d, want 413", resp.StatusCode)
	}
}

func TestRouter(t *testing.T) {
	var rt Router
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
	rt.HandleFunc(http.MethodPost, "/t/x", "x", ok)
	rt.HandleFunc(http.MethodGet, "/t/x", "x", ok)
	rt.HandleFunc(http.MethodDelete, "/t/x", "x", ok)
	srv, _, _ := newTestServer(t, CORS{}, &rt)
	resp, body := send(t, http.MethodPut, srv.URL+"/t/x", nil, nil)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "DELETE, GET, POST" || !strings.Contains(body, `"test_code":405`) {
		t.Errorf("PUT = %d Allow %q %s", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
	for _, p := range []string{"/t", "/t/", "/t/x/", "/t/y"} {
		resp, body := send(t, http.MethodGet, srv.URL+p, nil, nil)
		if resp.StatusCode != 404 || !strings.Contains(body, `"test_code":404`) {
			t.Errorf("GET %s = %d %s, want 404 in the dialect's shape", p, resp.StatusCode, body)
		}
	}
	if got := Join("/", "/users"); got != "/users" {
		t.Errorf(`Join("/", "/users") = %q`, got)
	}
	if got := Join("/api", "/auth"); got != "/api/auth" {
		t.Errorf(`Join("/api", "/auth") = %q`, got)
	}
}

func TestCORSAndCrossOriginProtection(t *testing.T) {
	var rt Router
	rt.HandleFunc(http.MethodPost, "/t/x", "x", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	cors := CORS{
		AllowedOrigins: []string{"https://app.example"},
		AllowMethods:   []string{"GET", "POST"},
		AllowHeaders:   []string{"Content-Type", "access-token"},
		ExposeHeaders:  []string{"access-token", "uid"},
	}
	srv, _, _ := newTestServer(t, cors, &rt)

	// Preflight from an allowed origin.
	resp, _ := send(t, http.MethodOptions, srv.URL+"/t/x", nil, map[string]string{
		"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
	})
	h := resp.Header
	if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Access-Control-Allow-Methods") != "GET, POST" ||
		h.Get("Access-Control-Allow-Headers") != "Content-Type, access-token" || h.Get("Access-Control-Max-Age") == "" {
		t.Errorf("allowed preflight = %d %v", resp.StatusCode, h)
	}
	// Preflight from another origin, or for another method: no grant.
	for _, hdr := range []map[string]string{
		{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
		{"Origin": "https://app.example.evil", "Access-Control-Request-Method": "POST"},
		{"Origin": "https://app.example", "Access-Control-Request-Method": "DELETE"},
	} {
		resp, _ := send(t, http.MethodOptions, srv.URL+"/t/x", nil, hdr)
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("preflight %v = %d %v, want 204 without a grant", hdr, resp.StatusCode, resp.Header)
		}
	}
	// The real request from the allowed origin exposes the dialect's headers.
	resp, _ = send(t, http.MethodPost, srv.URL+"/t/x", nil, map[string]string{"Origin": "https://app.example"})
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Expose-Headers") != "access-token, uid" ||
		resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("allowed POST = %d %v", resp.StatusCode, resp.Header)
	}
	// An unsafe request from an origin that is not allowed is refused in the dialect's shape.
	resp, body := send(t, http.MethodPost, srv.URL+"/t/x", nil, map[string]string{"Origin": "https://evil.example"})
	if resp.StatusCode != 403 || !strings.Contains(body, `"test_code":403`) || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("cross-origin POST = %d %s %v, want 403", resp.StatusCode, body, resp.Header)
	}
	resp, _ = send(t, http.MethodPost, srv.URL+"/t/x", nil, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != 403 {
		t.Errorf("cross-site POST = %d, want 403", resp.StatusCode)
	}
	// Same origin and non-browser clients pass.
	resp, _ = send(t, http.MethodPost, srv.URL+"/t/x", nil, map[string]string{"Origin": srv.URL})
	if resp.StatusCode != 204 {
		t.Errorf("same-origin POST = %d, want 204", resp.StatusCode)
	}
	resp, _ = send(t, http.MethodPost, srv.URL+"/t/x", nil, nil)
	if resp.StatusCode != 204 {
		t.Errorf("POST without Origin = %d, want 204", resp.StatusCode)
	}

	bad := &Dialect{Name: "bad", Errors: testErrors, CORS: CORS{AllowedOrigins: []string{"not an origin"}}}
	if _, err := bad.Wrap(&rt); err == nil {
		t.Error("Wrap accepted a malformed allowed origin")
	}
	if _, err := (&Dialect{Name: "none"}).Wrap(&rt); err == nil {
		t.Error("Wrap accepted a dialect without an error writer")
	}
}

// The dialect's read deadline alone (the test server sets no ReadTimeout) turns a stalled body
// into 408 in the dialect's shape.
func TestDialectReadTimeout(t *testing.T) {
	var rt Router
	rt.HandleFunc(http.MethodPost, "/t/slow", "slow", func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := DecodeJSON(r, &v); err != nil {
			WriteError(w, r, StatusOf(err), err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	d := &Dialect{Name: "test", Errors: testErrors, ReadTimeout: 300 * time.Millisecond}
	wrapped, err := d.Wrap(&rt)
	if err != nil {
		t.Fatal(err)
	}
	mw := &Middleware{Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(mw.Wrap(wrapped))
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /t/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"a\":")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"test_code":408`) {
		t.Errorf("stalled body = %d %s, want 408 in the dialect's shape", resp.StatusCode, body)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("answered after %s, want about 300ms", d)
	}
}
