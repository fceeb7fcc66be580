package httpx

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CORS is a dialect's cross-origin policy. Origins are matched exactly (scheme, host and
// port, as the browser sends them); there are no wildcards, since every dialect answers with
// credentials.
type CORS struct {
	// AllowedOrigins are the realm's origins (config.AllowedOrigins).
	AllowedOrigins []string
	// AllowMethods are the methods a preflight may ask for.
	AllowMethods []string
	// AllowHeaders are the request headers a preflight may ask for.
	AllowHeaders []string
	// ExposeHeaders are the response headers scripts may read (a dialect's auth headers).
	ExposeHeaders []string
	// MaxAge is how long a browser may cache a preflight (default 10 minutes).
	MaxAge time.Duration
}

func (c *CORS) allowed(origin string) bool {
	return origin != "" && slices.Contains(c.AllowedOrigins, origin)
}

// handle adds the CORS response headers for r and answers a preflight. It reports whether
// the request was a preflight and has been answered.
func (c *CORS) handle(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	h := w.Header()
	if origin != "" {
		h.Add("Vary", "Origin")
	}
	if preflight {
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	ok := c.allowed(origin)
	if ok {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if !preflight {
		if ok && len(c.ExposeHeaders) > 0 {
			h.Set("Access-Control-Expose-Headers", strings.Join(c.ExposeHeaders, ", "))
		}
		return false
	}
	// A preflight from an origin that is not allowed gets no grant; the browser then refuses
	// to send the real request, which is the point.
	if ok && slices.Contains(c.AllowMethods, r.Header.Get("Access-Control-Request-Method")) {
		h.Set("Access-Control-Allow-Methods", strings.Join(c.AllowMethods, ", "))
		if len(c.AllowHeaders) > 0 {
			h.Set("Access-Control-Allow-Headers", strings.Join(c.AllowHeaders, ", "))
		}
		maxAge := c.MaxAge
		if maxAge <= 0 {
			maxAge = 10 * time.Minute
		}
		h.Set("Access-Control-Max-Age", strconv.Itoa(int(maxAge.Seconds())))
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}
