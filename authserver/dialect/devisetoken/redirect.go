package devisetoken

import (
	"fmt"
	"net/url"
	"strings"
)

// maxRedirectURLLen bounds a redirect_url: it ends up in a Location header with a token added.
const maxRedirectURLLen = 2048

// redirectPolicy says which redirect_url values the dialect may send tokens to: absolute
// http(s) URLs whose origin is exactly one of the realm's allowed origins or the origin of its
// reset page. Anything looser would be an open redirect that hands a session to another site.
type redirectPolicy struct {
	origins map[string]bool
}

// newRedirectPolicy builds the policy from config.AllowedOrigins and config.Email.ResetURL.
func newRedirectPolicy(allowedOrigins []string, resetURL string) (redirectPolicy, error) {
	p := redirectPolicy{origins: map[string]bool{}}
	pages := append([]string(nil), allowedOrigins...)
	if resetURL != "" {
		pages = append(pages, resetURL)
	}
	for _, s := range pages {
		u, err := url.Parse(s)
		if err != nil {
			return p, fmt.Errorf("redirect origin %q: %w", s, err)
		}
		o := originOf(u)
		if o == "" {
			return p, fmt.Errorf("redirect origin %q is not an http or https origin", s)
		}
		p.origins[o] = true
	}
	return p, nil
}

// check parses raw and reports whether tokens may be sent there. It refuses, before parsing,
// anything a browser might read differently from Go: backslashes, whitespace, control and
// non-ASCII bytes; and after parsing, user info, opaque and relative URLs.
func (p redirectPolicy) check(raw string) (*url.URL, bool) {
	if raw == "" || len(raw) > maxRedirectURLLen {
		return nil, false
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return nil, false
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return nil, false
	}
	o := originOf(u)
	if o == "" || !p.origins[o] {
		return nil, false
	}
	return u, true
}

// originOf returns the origin of u as a browser writes it (lower-case scheme and host, no
// default port), or "" when u is not an http or https URL with a host.
func originOf(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		return scheme + "://" + host + ":" + port
	}
	return scheme + "://" + host
}

// redirectLocation appends params to u's query the way devise_token_auth's Url.generate does:
// after the existing query, and, when u has a fragment, repeated after it, because hash-routed
// single-page applications (Angular) only see what follows the '#'.
func redirectLocation(u *url.URL, params url.Values) string {
	q := params.Encode()
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	loc := *u
	loc.RawQuery = q
	loc.Fragment, loc.RawFragment = "", ""
	s := loc.String()
	if u.Fragment != "" {
		s += "#" + u.EscapedFragment() + "?" + q
	}
	return s
}
