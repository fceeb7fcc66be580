package devisetoken

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/latchauth/latch/authserver/httpx"
)

// The names of the credentials, as headers, parameters and Bearer JSON keys.
const (
	keyAccessToken = "access-token"
	keyClient      = "client"
	keyUID         = "uid"
	keyTokenType   = "token-type"
	keyExpiry      = "expiry"
)

// defaultClient is devise's client when a request names none.
const defaultClient = "default"

// Bounds of the credential decoders. Each is far above what a real client sends, and keeps a
// hostile request from costing more than a valid one.
const (
	// maxCredentialLen bounds one credential value. A session token is 89 bytes, a client 22,
	// a uid at most store.MaxLoginLen (320); longer values are refused, never truncated.
	maxCredentialLen = 512
	// maxQueryLen bounds the query string scanned for credentials.
	maxQueryLen = 8 << 10
	// maxQueryParams bounds the parameters looked at in that query string.
	maxQueryParams = 64
	// maxBearerLen bounds the base64 part of an Authorization header.
	maxBearerLen = 4 << 10
)

// credentials are what a request presents to authenticate. An empty field was not presented.
type credentials struct {
	AccessToken string
	Client      string
	UID         string
}

// or fills c's empty fields from o: devise reads each credential from the first source that
// has it.
func (c credentials) or(o credentials) credentials {
	if c.AccessToken == "" {
		c.AccessToken = o.AccessToken
	}
	if c.Client == "" {
		c.Client = o.Client
	}
	if c.UID == "" {
		c.UID = o.UID
	}
	return c
}

func (c credentials) complete() bool { return c.AccessToken != "" && c.Client != "" && c.UID != "" }

// client returns the presented client, or devise's "default" when none was.
func (c credentials) client() string {
	if c.Client == "" {
		return defaultClient
	}
	return c.Client
}

// clean returns v if it can be a credential: not longer than maxCredentialLen, valid UTF-8,
// without control characters. Anything else is dropped, which the caller answers like a
// missing credential: it could never have matched.
func clean(v string) string {
	if len(v) > maxCredentialLen || !utf8.ValidString(v) {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return ""
		}
	}
	return v
}

// requestCredentials collects the credentials of r in devise's order: headers, query
// parameters, body parameters (b, the decoded body, or nil), then the Authorization header.
func requestCredentials(r *http.Request, b *body) credentials {
	c := headerCredentials(r.Header)
	if !c.complete() {
		c = c.or(queryCredentials(r.URL.RawQuery))
	}
	if !c.complete() && b != nil {
		c = c.or(b.credentials())
	}
	if !c.complete() {
		c = c.or(bearerCredentials(r.Header.Get("Authorization")))
	}
	return c
}

// headerCredentials reads the access-token, client and uid headers (the first value of each).
func headerCredentials(h http.Header) credentials {
	return credentials{
		AccessToken: clean(h.Get(keyAccessToken)),
		Client:      clean(h.Get(keyClient)),
		UID:         clean(h.Get(keyUID)),
	}
}

// queryCredentials reads access-token, client and uid from a raw query string. It scans at
// most maxQueryParams parameters of at most maxQueryLen bytes and unescapes only the three
// it wants, rather than building the whole map url.ParseQuery would. As in net/url, the first
// occurrence of each wins, even when empty; a parameter that does not unescape is skipped.
func queryCredentials(raw string) credentials {
	var c credentials
	if len(raw) > maxQueryLen {
		return c
	}
	var seen [3]bool
	for i := 0; i < maxQueryParams && raw != ""; i++ {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			continue
		}
		var dst *string
		var n int
		switch key {
		case keyAccessToken:
			dst, n = &c.AccessToken, 0
		case keyClient:
			dst, n = &c.Client, 1
		case keyUID:
			dst, n = &c.UID, 2
		default:
			continue
		}
		if seen[n] {
			continue
		}
		if val, err := url.QueryUnescape(v); err == nil {
			seen[n] = true
			*dst = clean(val)
		}
	}
	return c
}

// bearerCredentials reads devise's `Authorization: Bearer base64(JSON)`. The scheme is
// matched case-insensitively; the payload may be standard or URL-safe base64, padded or not
// (devise writes strict standard base64; hand-rolled clients vary). Fields that are not JSON
// strings are ignored, as are token-type and expiry: the server's own record decides expiry.
// Anything that does not decode yields no credentials.
func bearerCredentials(header string) credentials {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return credentials{}
	}
	payload := strings.TrimSpace(rest)
	if payload == "" || len(payload) > maxBearerLen {
		return credentials{}
	}
	var raw []byte
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(payload); err == nil {
			raw = b
			break
		}
	}
	if raw == nil {
		return credentials{}
	}
	var fields struct {
		AccessToken json.RawMessage `json:"access-token"`
		Client      json.RawMessage `json:"client"`
		UID         json.RawMessage `json:"uid"`
	}
	if err := httpx.ParseJSON(raw, &fields); err != nil {
		return credentials{}
	}
	return credentials{
		AccessToken: jsonString(fields.AccessToken),
		Client:      jsonString(fields.Client),
		UID:         jsonString(fields.UID),
	}
}

// jsonString returns the cleaned value of a JSON string, or "" for anything else.
func jsonString(m json.RawMessage) string {
	var s string
	if len(m) == 0 || m[0] != '"' || json.Unmarshal(m, &s) != nil {
		return ""
	}
	return clean(s)
}
