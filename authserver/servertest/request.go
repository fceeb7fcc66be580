package servertest

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// Response is a finished request: the response with its body already read and closed, so a
// test checks the status, the headers and the body without minding the connection. Body
// shadows the consumed http.Response.Body with the bytes it held.
type Response struct {
	*http.Response
	Body []byte
}

// Do sends one request to target with hc and returns the response with its body read. A request that
// cannot be built or sent fails the test: every caller wants an answer to check, and a
// transport error is never what a test of the server's answers expects.
//
// body is what the dialect tests send:
//   - nil: no body;
//   - a string or []byte: sent as it is and labelled application/json, so a test can send
//     JSON that no Go value marshals to (malformed, duplicated keys, invalid UTF-8);
//   - url.Values: encoded as a form and labelled application/x-www-form-urlencoded;
//   - an io.Reader: sent as it is with no label, for tests that choose the Content-Type
//     themselves or send none;
//   - any other value: marshalled to JSON and labelled application/json.
//
// header lists name, value pairs, added in order so that a name may repeat; a Content-Type
// among them replaces the label.
func Do(t testing.TB, hc *http.Client, method, target string, body any, header ...string) Response {
	t.Helper()
	r, label := requestBody(t, body)
	req, err := http.NewRequestWithContext(t.Context(), method, target, r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	if _, named := req.Header["Content-Type"]; label != "" && !named {
		req.Header.Set("Content-Type", label)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return Response{Response: resp, Body: data}
}

// requestBody returns Do's body as a reader and the Content-Type it is labelled with ("" for
// none).
func requestBody(t testing.TB, body any) (io.Reader, string) {
	t.Helper()
	const jsonType = "application/json"
	switch v := body.(type) {
	case nil:
		return nil, ""
	case string:
		return strings.NewReader(v), jsonType
	case []byte:
		return bytes.NewReader(v), jsonType
	case url.Values:
		return strings.NewReader(v.Encode()), "application/x-www-form-urlencoded"
	case io.Reader:
		return v, ""
	default:
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("servertest: marshal the request body %T: %v", body, err)
		}
		return bytes.NewReader(j), jsonType
	}
}

// ComparableHeaders formats h without the headers that differ on every response (Date and
// X-Request-Id), one "Name: value" line a value, names sorted and values in order: two
// answers that must not be told apart (an unknown user and a wrong password, say) compare
// equal as strings, and a difference reads as a line in the failure message.
func ComparableHeaders(h http.Header) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if k == "Date" || k == "X-Request-Id" {
			continue
		}
		for _, v := range h[k] {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	return b.String()
}
