package server

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/dialect"
	"github.com/latchauth/latch/authserver/dialect/account"
	"github.com/latchauth/latch/authserver/dialect/bearertoken"
	"github.com/latchauth/latch/authserver/dialect/devisetoken"
	"github.com/latchauth/latch/authserver/dialect/keytoken"
	"github.com/latchauth/latch/authserver/dialect/reactauth"
)

// dialects is every dialect the server can speak (the five of docs/protocol.md). A new dialect
// is its package, its section in config.Protocols, and one line here.
var dialects = []dialect.Definition{
	reactauth.Definition,
	devisetoken.Definition,
	account.Definition,
	bearertoken.Definition,
	keytoken.Definition,
}

// enabledDialects returns the definitions of the dialects cfg enables, in the config's order,
// and the socket push of the one that holds live sockets (nil when none does).
func enabledDialects(cfg *config.Config) ([]dialect.Definition, []byte, error) {
	var defs []dialect.Definition
	var push []byte
	for _, p := range cfg.Protocols.Enabled() {
		i := slices.IndexFunc(dialects, func(d dialect.Definition) bool { return d.Name == p.Name })
		if i < 0 {
			return nil, nil, fmt.Errorf("protocols.%s: the server has no such dialect", p.Name)
		}
		d := dialects[i]
		if d.ClosePush != nil {
			// One hub serves every socket of the process, with one push message.
			if push != nil && !bytes.Equal(push, d.ClosePush) {
				return nil, nil, fmt.Errorf("protocols.%s: a second dialect with sockets needs its own hub", p.Name)
			}
			push = d.ClosePush
		}
		defs = append(defs, d)
	}
	return defs, push, nil
}

// mountDialects mounts every enabled dialect on mux and reports whether one took the root.
func (s *instance) mountDialects(mux *http.ServeMux, defs []dialect.Definition, deps dialect.Deps) (rootTaken bool, err error) {
	for _, d := range defs {
		p, _ := s.cfg.Protocols.Lookup(d.Name)
		if err := d.Mount(mux, deps); err != nil {
			return false, fmt.Errorf("protocols.%w", err)
		}
		rootTaken = rootTaken || p.Prefix == "/"
		s.logger.Info("dialect enabled", "dialect", d.Name, "prefix", p.Prefix)
	}
	return rootTaken, nil
}
