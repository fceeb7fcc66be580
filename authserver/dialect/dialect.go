package dialect

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/socket"
)

// Definition is one dialect as the server's table lists it.
type Definition struct {
	// Name is the dialect's key under protocols in the config (config.Protocol.Name) and its
	// name in sessions, logs and metrics.
	Name string
	// ClosePush, when set, says the dialect holds live sockets: the server then builds the
	// process's socket hub, which pushes this message to every socket of an ended session,
	// and hands it to the dialect in Deps.Hub.
	ClosePush []byte
	// New builds the dialect from the server's parts and its own enabled section.
	New func(Deps, config.Protocol) (Spec, error)
}

// Deps is what the server gives every dialect.
type Deps struct {
	Config *config.Config
	Core   *core.Service
	// Logger is the server's logger; Mount adds the dialect's name.
	Logger *slog.Logger
	// Now is the clock for what the dialect computes itself (cookie lifetimes).
	Now func() time.Time
	// Hub holds the process's live sockets; set only for a dialect with a ClosePush.
	Hub *socket.Hub
}

// Spec is what a dialect gives the server to mount.
type Spec struct {
	// Errors writes the dialect's error shape; every refusal the server makes on its behalf
	// (CORS, cross-origin writes, 404, 405, 413, 408) is written with it.
	Errors httpx.ErrorWriter
	// AllowHeaders and ExposeHeaders are the CORS request and response headers the dialect's
	// clients need. The allowed methods are those of Routes.
	AllowHeaders, ExposeHeaders []string
	// Routes are the dialect's endpoints, with paths relative to its prefix.
	Routes []Route
}

// Route is one endpoint of a dialect.
type Route struct {
	Method string
	// Path is relative to the prefix: "/sign_in", or "" for the prefix itself.
	Path string
	// Name labels the route in logs and metrics.
	Name    string
	Handler http.Handler
}

// HandleFunc is the Route of a handler function.
func HandleFunc(method, path, name string, f http.HandlerFunc) Route {
	return Route{Method: method, Path: path, Name: name, Handler: f}
}

// methodOrder is the order allowed methods are listed in a CORS preflight answer.
var methodOrder = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// Mount builds def from deps and serves it on mux at the prefix the config gives it. It fails
// when the config does not enable def, when a dialect with sockets gets no hub, or when the
// dialect refuses its settings.
func (def Definition) Mount(mux *http.ServeMux, deps Deps) error {
	p, ok := deps.Config.Protocols.Lookup(def.Name)
	if !ok {
		return fmt.Errorf("%s: the dialect is not enabled in the config", def.Name)
	}
	if def.ClosePush != nil && deps.Hub == nil {
		return fmt.Errorf("%s: no socket hub", def.Name)
	}
	if def.ClosePush == nil {
		deps.Hub = nil
	}
	deps.Logger = deps.Logger.With("dialect", def.Name)
	spec, err := def.New(deps, p)
	if err != nil {
		return fmt.Errorf("%s: %w", def.Name, err)
	}
	if spec.Errors == nil || len(spec.Routes) == 0 {
		return errors.New(def.Name + ": the dialect has no error writer or no routes")
	}
	var rt httpx.Router
	var methods []string
	for _, r := range spec.Routes {
		rt.Handle(r.Method, routePath(p.Prefix, r.Path), r.Name, r.Handler)
		if !slices.Contains(methods, r.Method) {
			methods = append(methods, r.Method)
		}
	}
	slices.SortFunc(methods, func(a, b string) int { return slices.Index(methodOrder, a) - slices.Index(methodOrder, b) })
	d := &httpx.Dialect{
		Name:   def.Name,
		Errors: spec.Errors,
		CORS: httpx.CORS{
			AllowedOrigins: deps.Config.AllowedOrigins,
			AllowMethods:   methods,
			AllowHeaders:   spec.AllowHeaders,
			ExposeHeaders:  spec.ExposeHeaders,
		},
		ReadTimeout: deps.Config.Listen.ReadTimeout.Duration,
	}
	return d.Mount(mux, p.Prefix, &rt)
}

// routePath is path under prefix; the prefix itself when path is "", and "/" for the root.
func routePath(prefix, path string) string {
	if p := httpx.Join(prefix, path); p != "" {
		return p
	}
	return "/"
}
