package servertest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/servertest"
)

// echo answers 201 with what it received: method, Content-Type values, the X-Test values
// and the body.
func echo(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "contentType": r.Header.Values("Content-Type"),
			"test": r.Header.Values("X-Test"), "body": string(body),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

type echoed struct {
	Method      string
	ContentType []string
	Test        []string
	Body        string
}

func TestDo(t *testing.T) {
	srv := echo(t)
	for _, tc := range []struct {
		name        string
		body        any
		header      []string
		contentType []string
		test        []string
		sent        string
	}{
		{name: "no body", body: nil},
		{name: "string as is", body: `{"a":`, contentType: []string{"application/json"}, sent: `{"a":`},
		{name: "bytes as is", body: []byte("[1,"), contentType: []string{"application/json"}, sent: "[1,"},
		{name: "value as JSON", body: map[string]int{"a": 1}, contentType: []string{"application/json"}, sent: `{"a":1}`},
		{name: "form", body: url.Values{"a": {"b c"}}, contentType: []string{"application/x-www-form-urlencoded"}, sent: "a=b+c"},
		{name: "reader unlabelled", body: strings.NewReader("raw"), sent: "raw"},
		{name: "header labels", body: "x", header: []string{"Content-Type", "text/plain"}, contentType: []string{"text/plain"}, sent: "x"},
		{name: "header repeats", header: []string{"X-Test", "1", "x-test", "2"}, test: []string{"1", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := servertest.Do(t, srv.Client(), http.MethodPut, srv.URL+"/p", tc.body, tc.header...)
			if r.StatusCode != http.StatusCreated || r.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, Content-Type %q", r.StatusCode, r.Header.Get("Content-Type"))
			}
			var got echoed
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatalf("body %q: %v", r.Body, err)
			}
			if got.Method != http.MethodPut || !slices.Equal(got.ContentType, tc.contentType) ||
				!slices.Equal(got.Test, tc.test) || got.Body != tc.sent {
				t.Errorf("the server received %+v, want Content-Type %q, X-Test %q and body %q", got, tc.contentType, tc.test, tc.sent)
			}
		})
	}
}

func TestComparableHeaders(t *testing.T) {
	h := http.Header{
		"X-B": {"2", "1"}, "A": {"x"},
		"Date": {"Mon, 01 Jan 2024 00:00:00 GMT"}, "X-Request-Id": {"r1"},
	}
	if got, want := servertest.ComparableHeaders(h), "A: x\nX-B: 2\nX-B: 1\n"; got != want {
		t.Errorf("ComparableHeaders = %q, want %q", got, want)
	}
	other := h.Clone()
	other.Set("Date", "Tue, 02 Jan 2024 00:00:00 GMT")
	other.Set("X-Request-Id", "r2")
	if servertest.ComparableHeaders(other) != servertest.ComparableHeaders(h) {
		t.Error("the per-response headers tell two answers apart")
	}
	// Values in another order, or joined, are another answer.
	for _, vs := range [][]string{{"1", "2"}, {"2, 1"}} {
		other["X-B"] = vs
		if servertest.ComparableHeaders(other) == servertest.ComparableHeaders(h) {
			t.Errorf("X-B %q compares equal to %q", vs, h["X-B"])
		}
	}
}
