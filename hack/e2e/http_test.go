package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// httpClient is for the dialects driven from Go (bearerToken, keyToken, and deviseToken checks
// around the realm edit). No cookie jar: these dialects carry their credentials in headers.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// reply is one HTTP response, read whole.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// decode unmarshals the body into v, failing the test with the body if it does not parse.
func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d %s: %v", r.Status, r.Body, err)
	}
}

// call sends a request with an optional JSON body and extra headers, failing the test on a
// transport error (a replica that does not answer at all).
func call(t *testing.T, method, url string, body any, header http.Header) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

func basic(key, token string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"+token))}}
}

// deviseHeaders are the three credentials a devise_token_auth client sends back.
func deviseHeaders(h http.Header) http.Header {
	return http.Header{
		"access-token": {h.Get("access-token")},
		"client":       {h.Get("client")},
		"uid":          {h.Get("uid")},
	}
}
