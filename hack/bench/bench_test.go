package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestHTTPConnReadsEveryResponseShape: the load generator's parser against net/http's own
// server: a Content-Length body, a chunked one, an empty 204, and a header the caller asked for,
// all on one keep-alive connection.
func TestHTTPConnReadsEveryResponseShape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			w.Header().Set("Access-Token", "t-"+r.Header.Get("X-N"))
			_, _ = w.Write([]byte(`{"ok":true}`))
		case "/chunked":
			for i := range 3 {
				_, _ = fmt.Fprintf(w, "%s", strings.Repeat("x", 3000+i))
				w.(http.Flusher).Flush()
			}
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	hc := newHTTPConn(host, nil)
	defer hc.close()
	for i, path := range []string{"/small", "/chunked", "/empty", "/small", "/missing", "/small"} {
		var token string
		req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nX-N: %d\r\n\r\n", path, host, i)
		err := hc.roundTrip([]byte(req), func(k, v []byte) {
			if strings.EqualFold(string(k), "access-token") {
				token = string(v)
			}
		})
		switch path {
		case "/missing":
			if err != errStatus(http.StatusNotFound) {
				t.Errorf("GET %s: err = %v, want status 404", path, err)
			}
		default:
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
		}
		if path == "/small" && token != fmt.Sprintf("t-%d", i) {
			t.Errorf("GET %s: access-token %q, want t-%d", path, token, i)
		}
	}
}

func TestPercentileAndMedian(t *testing.T) {
	ds := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for p, want := range map[float64]time.Duration{50: 5, 99: 10, 100: 10, 10: 1, 1: 1} {
		if got := percentile(ds, p); got != want {
			t.Errorf("percentile(%v) = %v, want %v", p, got, want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median odd = %v", got)
	}
	xs := []float64{4, 1, 3, 2}
	if got := median(xs); got != 2.5 {
		t.Errorf("median even = %v", got)
	}
	if !slices.Equal(xs, []float64{4, 1, 3, 2}) {
		t.Errorf("median sorted its argument: %v", xs)
	}
}

func TestDiffCommandsCountsScriptsAndInnerCommands(t *testing.T) {
	before := map[string]int64{"evalsha": 10, "hgetall": 20, "info": 3}
	after := map[string]int64{"evalsha": 12, "hgetall": 24, "pexpire": 2, "info": 4}
	d := diffCommands(before, after)
	if d.Scripts != 2 || d.Total != 8 {
		t.Errorf("diffCommands = %+v, want 2 scripts and 8 commands (the INFO call excluded)", d)
	}
}
