package kit

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/dialect"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/store"
)

// Base is the part of a dialect's handler every dialect has.
type Base struct {
	// Name is the dialect's name (dialect.Definition.Name).
	Name string
	// Core is the shared service.
	Core *core.Service
	// Config is the realm's config.
	Config *config.Config
	// Logger receives internal errors; it already names the dialect.
	Logger *slog.Logger
	// Now is the clock cookies' expiry is computed with.
	Now func() time.Time
	// Errors writes the dialect's error shape.
	Errors httpx.ErrorWriter
	// InternalMessage is what a 500 says (default "internal error").
	InternalMessage string
}

// NewBase returns the Base of the dialect called name, built from the server's deps.
func NewBase(name string, d dialect.Deps, errors httpx.ErrorWriter) Base {
	return Base{Name: name, Core: d.Core, Config: d.Config, Logger: d.Logger, Now: d.Now, Errors: errors}
}

// Meta describes the request (or a socket's handshake) to the core.
func (b *Base) Meta(r *http.Request) core.Meta {
	ctx := r.Context()
	return core.Meta{Dialect: b.Name, ClientIP: httpx.ClientIP(ctx), RequestID: httpx.RequestID(ctx), UserAgent: r.UserAgent()}
}

// LogInternal logs err, which the client will see only as an internal error. A store outage
// is not logged: the store's health monitor reports it once, not every request that meets it.
func (b *Base) LogInternal(r *http.Request, err error) {
	if errors.Is(err, store.ErrUnavailable) {
		return
	}
	ctx := r.Context()
	b.Logger.ErrorContext(ctx, b.Name+" request failed",
		"request_id", httpx.RequestID(ctx), "route", httpx.RouteName(ctx), "path", r.URL.Path, "error", err)
}

// InternalError logs err (LogInternal) and answers 500 in the dialect's shape.
func (b *Base) InternalError(w http.ResponseWriter, r *http.Request, err error) {
	b.LogInternal(r, err)
	msg := b.InternalMessage
	if msg == "" {
		msg = "internal error"
	}
	b.Errors(w, r, http.StatusInternalServerError, msg)
}

// Decode reads a JSON body into dst, answering the client itself when it cannot: 400, 408 or
// 413 with the reason, in the dialect's shape. It reports whether the handler may go on.
func (b *Base) Decode(w http.ResponseWriter, r *http.Request, dst any) bool {
	return b.answerBody(w, r, httpx.DecodeJSON(r, dst))
}

// DecodeOptional is Decode for a body that may be empty: an empty body leaves dst as it is.
func (b *Base) DecodeOptional(w http.ResponseWriter, r *http.Request, dst any) bool {
	raw, err := httpx.ReadBody(r, httpx.MaxBodyBytes)
	if err == nil && len(raw) == 0 {
		return true
	}
	if err == nil {
		err = httpx.ParseJSON(raw, dst)
	}
	return b.answerBody(w, r, err)
}

// ReadBody reads the body (at most httpx.MaxBodyBytes), answering the client itself when it
// cannot. It reports whether the handler may go on.
func (b *Base) ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	raw, err := httpx.ReadBody(r, httpx.MaxBodyBytes)
	return raw, b.answerBody(w, r, err)
}

// BadBody answers a body the decoders refused: 400, 408 or 413 in the dialect's shape.
func (b *Base) BadBody(w http.ResponseWriter, r *http.Request, err error) {
	httpx.WriteBodyError(w, r, err, b.Errors)
}

func (b *Base) answerBody(w http.ResponseWriter, r *http.Request, err error) bool {
	if err == nil {
		return true
	}
	b.BadBody(w, r, err)
	return false
}

// Cookie is the realm's session cookie (httpx.SessionCookie), the one every cookie dialect of
// the realm shares, so a login in one is a session in the others.
func (b *Base) Cookie() httpx.SessionCookie { return httpx.NewSessionCookie(b.Config, b.Now) }

// SessionToken returns the request's session token (httpx.SessionCookie.Token), or "".
func (b *Base) SessionToken(r *http.Request) string { return b.Cookie().Token(r) }

// SetSession sets the session cookie to raw; it lives until the session's absolute end.
func (b *Base) SetSession(w http.ResponseWriter, raw string, expires time.Time) {
	b.Cookie().Set(w, raw, expires)
}

// ClearSession tells the browser to drop the session cookie.
func (b *Base) ClearSession(w http.ResponseWriter) { b.Cookie().Clear(w) }
