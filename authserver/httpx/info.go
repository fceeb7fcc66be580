package httpx

import (
	"context"
	"net/http"
	"time"
)

// ErrorWriter writes an error response in a dialect's shape: the account dialect's
// {code, error}, deviseToken's {success, errors}, and so on. msg is safe to show a client.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, status int, msg string)

// Info is what the middleware learns about a request, shared by every layer below it through
// the request's context. Its dialect and route are filled in by the dialect wrapper and the
// router, so the access log and the metrics (written by the outermost layer, after the
// handler returns) know them.
type Info struct {
	// RequestID is the client's X-Request-Id when it is well formed, otherwise a fresh one.
	RequestID string
	// ClientIP is the peer address, or the client address from X-Forwarded-For when the peer
	// is a trusted proxy.
	ClientIP string
	// Start is when the middleware received the request.
	Start time.Time

	dialect string
	route   string
	errors  ErrorWriter
}

type infoKey struct{}

// FromContext returns the request's Info, or nil outside the middleware.
func FromContext(ctx context.Context) *Info {
	i, _ := ctx.Value(infoKey{}).(*Info)
	return i
}

// RequestID returns the request id of ctx, or "" outside the middleware.
func RequestID(ctx context.Context) string {
	if i := FromContext(ctx); i != nil {
		return i.RequestID
	}
	return ""
}

// ClientIP returns the client address of ctx, or "" outside the middleware.
func ClientIP(ctx context.Context) string {
	if i := FromContext(ctx); i != nil {
		return i.ClientIP
	}
	return ""
}

// DialectName returns the dialect serving ctx's request, or "".
func DialectName(ctx context.Context) string {
	if i := FromContext(ctx); i != nil {
		return i.dialect
	}
	return ""
}

// RouteName returns the name of the route serving ctx's request (SetRoute), or "".
func RouteName(ctx context.Context) string {
	if i := FromContext(ctx); i != nil {
		return i.route
	}
	return ""
}

// SetRoute names the route serving r, for the access log and the metrics. Route names must be
// constants, never client input: they become metric labels.
func SetRoute(r *http.Request, name string) {
	if i := FromContext(r.Context()); i != nil {
		i.route = name
	}
}

// WriteError answers with the error shape of the dialect serving r, or with a plain JSON
// {"error": msg} outside any dialect.
func WriteError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if i := FromContext(r.Context()); i != nil && i.errors != nil {
		i.errors(w, r, status, msg)
		return
	}
	WriteJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}
