package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/latchauth/latch/authserver/metrics"
)

// MaxBodyBytes is the largest request body any dialect accepts (docs/protocol.md#body-limits: 64 KiB).
const MaxBodyBytes = 64 << 10

// HSTS is the Strict-Transport-Security value of a realm served over TLS: one year, the span
// the HSTS preload list asks for and browsers' guidance recommends, so that a browser which
// has seen the realm once never sends it a plain-HTTP request (where a network attacker
// reads a login form's password or answers in the server's name) for a year after its last
// visit. Neither includeSubDomains nor preload: the auth server is often one host, or one path,
// of a domain whose other hosts it knows nothing about, and forcing them all to HTTPS (or
// listing the domain in browsers for good) is the domain owner's decision, made at their edge.
const HSTS = "max-age=31536000"

// maxLoggedPathLen bounds the path written to the access log.
const maxLoggedPathLen = 256

// Middleware is the one wrapper around the public handler. In order, for every request: it
// assigns the request id and resolves the client address, sets the headers every response
// carries (HSTS among them when the realm is served over TLS), caps the body, recovers a panic into a 500 in the dialect's error shape, and, when
// the handler is done, writes one access-log line and records the metrics.
type Middleware struct {
	// Logger receives the access log and recovered panics.
	Logger *slog.Logger
	// Metrics records each request; nil records nothing.
	Metrics *metrics.Metrics
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Now is the clock (default time.Now).
	Now func() time.Time
	// HSTS sets Strict-Transport-Security (the HSTS constant) on every response: set it when
	// the realm is served over TLS (listen.secureCookies).
	HSTS bool
}

// Wrap returns next behind the middleware.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	now := m.Now
	if now == nil {
		now = time.Now
	}
	const limit = MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &Info{RequestID: requestID(r), ClientIP: clientIP(r, m.TrustedProxies), Start: now()}
		h := w.Header()
		h.Set("X-Request-Id", info.RequestID)
		// Every answer of an auth server is personal: never cache it anywhere.
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		if m.HSTS {
			h.Set("Strict-Transport-Security", HSTS)
		}

		// MaxBytesReader gets the server's own writer, so that exceeding the cap also closes
		// the connection instead of reading the rest of a huge body.
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		rec := &recorder{ResponseWriter: w}

		defer func() {
			p := recover()
			if p != nil && p != http.ErrAbortHandler {
				m.Logger.ErrorContext(r.Context(), "panic serving request",
					"request_id", info.RequestID, "panic", p, "stack", string(debug.Stack()))
				if !rec.written() {
					WriteError(rec, r, http.StatusInternalServerError, "internal error")
				}
			}
			m.finish(r, rec, info, now().Sub(info.Start))
			if p == http.ErrAbortHandler {
				// The documented way to abort a response: let net/http drop the connection.
				panic(p)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// finish writes the access-log line and the metrics. The line has a constant message and
// key-values only; it never holds a query string, a header value or a body, any of which can
// carry a token.
func (m *Middleware) finish(r *http.Request, rec *recorder, info *Info, d time.Duration) {
	status := rec.status
	if status == 0 {
		// The handler wrote nothing: net/http sends 200 with an empty body.
		status = http.StatusOK
	}
	m.Metrics.ObserveRequest(info.dialect, info.route, status, d)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	path := r.URL.EscapedPath()
	if len(path) > maxLoggedPathLen {
		path = path[:maxLoggedPathLen] + "..."
	}
	m.Logger.LogAttrs(r.Context(), level, "http request",
		slog.String("request_id", info.RequestID),
		slog.String("method", sanitizeMethod(r.Method)),
		slog.String("path", path),
		slog.String("dialect", info.dialect),
		slog.String("route", info.route),
		slog.Int("status", status),
		slog.Int64("bytes", rec.bytes),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("client_ip", info.ClientIP),
	)
}

// sanitizeMethod keeps a bounded, known method name in logs; anything else is one bucket.
func sanitizeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
