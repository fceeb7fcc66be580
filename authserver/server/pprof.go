package server

import (
	"net/http"
	"net/http/pprof"
)

// mountPprof serves net/http/pprof under /debug/pprof/ (listen.pprof): the index and every
// named profile (heap, goroutine, allocs, ...; heap?gc=1 collects garbage first), CPU
// profiles and execution traces. The admin server's WriteTimeout bounds a profile's seconds.
func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
