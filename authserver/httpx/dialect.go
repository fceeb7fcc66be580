package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Dialect is the wrapper around one dialect's handler: it tells the middleware which dialect
// and error shape the request belongs to, applies the dialect's CORS policy, refuses
// cross-origin writes from origins the realm does not allow (login CSRF included), refuses
// bodies declared larger than the limit before reading them (413), and bounds the time a
// client may take to send its body.
type Dialect struct {
	// Name labels logs and metrics ("account", "deviseToken", ...).
	Name string
	// Errors writes the dialect's error shape.
	Errors ErrorWriter
	// CORS is the dialect's cross-origin policy.
	CORS CORS
	// ReadTimeout bounds reading the request body, counted from when the request arrived
	// (config.Listen.ReadTimeout). A slower body read fails with ErrBodyTimeout.
	ReadTimeout time.Duration
}

// Mount wraps h (Wrap) and serves it on mux at prefix and everything below it (Mount).
func (d *Dialect) Mount(mux *http.ServeMux, prefix string, h http.Handler) error {
	wrapped, err := d.Wrap(h)
	if err != nil {
		return err
	}
	Mount(mux, prefix, wrapped)
	return nil
}

// Wrap returns h behind the dialect's policies. It fails only for a malformed allowed origin.
func (d *Dialect) Wrap(h http.Handler) (http.Handler, error) {
	if d.Errors == nil {
		return nil, errors.New("httpx: dialect " + d.Name + " has no error writer")
	}
	const limit = MaxBodyBytes
	// net/http's protection compares Origin (or Sec-Fetch-Site) with Host for every unsafe
	// method: a browser on another site cannot make a signed-in user log out or log in to an
	// attacker's account. Safe methods and non-browser clients (no Origin) pass.
	cop := http.NewCrossOriginProtection()
	for _, o := range d.CORS.AllowedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("allowedOrigins: %w", err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.Errors(w, r, http.StatusForbidden, "cross-origin request refused")
	}))
	inner := cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			// Refused before a byte of the body is read; closing the connection saves
			// reading (or discarding) the rest.
			w.Header().Set("Connection", "close")
			d.Errors(w, r, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		if r.ContentLength != 0 && d.ReadTimeout > 0 {
			start := time.Now()
			if i := FromContext(r.Context()); i != nil {
				start = i.Start
			}
			// The server's ReadTimeout already bounds the whole request; setting the deadline
			// here as well keeps the dialect's 408 independent of how the http.Server is
			// configured. Not every writer supports it (httptest's recorder does not).
			err := http.NewResponseController(w).SetReadDeadline(start.Add(d.ReadTimeout))
			if err != nil && !errors.Is(err, http.ErrNotSupported) {
				d.Errors(w, r, http.StatusInternalServerError, "internal error")
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i := FromContext(r.Context()); i != nil {
			i.dialect, i.errors = d.Name, d.Errors
		}
		if d.CORS.handle(w, r) {
			SetRoute(r, "preflight")
			return
		}
		inner.ServeHTTP(w, r)
	}), nil
}
