package httpx

import (
	"net/http"
	"slices"
	"strings"
)

// Router dispatches on exact paths and methods, and answers an unknown path with 404 and a
// known path with the wrong method with 405 and an Allow header, both in the dialect's error
// shape (http.ServeMux would answer them in plain text).
type Router struct {
	paths map[string]*pathRoutes
}

type pathRoutes struct {
	name     string
	methods  map[string]http.Handler
	allowSet []string
}

// Handle routes method and path to h; name is the route's label in logs and metrics.
func (rt *Router) Handle(method, path, name string, h http.Handler) {
	if rt.paths == nil {
		rt.paths = map[string]*pathRoutes{}
	}
	p := rt.paths[path]
	if p == nil {
		p = &pathRoutes{name: name, methods: map[string]http.Handler{}}
		rt.paths[path] = p
	}
	p.methods[method] = h
	p.allowSet = append(p.allowSet, method)
	slices.Sort(p.allowSet)
}

// HandleFunc is Handle for a function.
func (rt *Router) HandleFunc(method, path, name string, h http.HandlerFunc) {
	rt.Handle(method, path, name, h)
}

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := rt.paths[r.URL.Path]
	if p == nil {
		WriteError(w, r, http.StatusNotFound, "not found")
		return
	}
	SetRoute(r, p.name)
	h := p.methods[r.Method]
	if h == nil {
		w.Header().Set("Allow", strings.Join(p.allowSet, ", "))
		WriteError(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	h.ServeHTTP(w, r)
}

// Mount serves h at prefix and everything under it on mux: "/account" and "/account/...", or
// everything for the prefix "/". Paths under the prefix that h does not know get h's 404, in
// the dialect's shape, rather than the mux's redirect or plain-text 404.
func Mount(mux *http.ServeMux, prefix string, h http.Handler) {
	p := strings.TrimSuffix(prefix, "/")
	mux.Handle(p+"/", h)
	if p != "" {
		mux.Handle(p, h)
	}
}

// Join appends a route's path to a dialect prefix: Join("/account", "/login") is
// "/account/login", Join("/", "/users") is "/users".
func Join(prefix, path string) string {
	return strings.TrimSuffix(prefix, "/") + path
}
