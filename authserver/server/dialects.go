package server

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/dialect/account"
	"github.com/latchauth/latch/authserver/dialect/bearertoken"
	"github.com/latchauth/latch/authserver/dialect/devisetoken"
	"github.com/latchauth/latch/authserver/dialect/keytoken"
	"github.com/latchauth/latch/authserver/dialect/reactauth"
	"github.com/latchauth/latch/authserver/socket"
)

// deps is what a dialect is built from.
type deps struct {
	Config *config.Config
	Core   *core.Service
	Logger *slog.Logger
	Now    func() time.Time
	// Hub is the process's socket hub, for dialects with live sockets.
	Hub *socket.Hub
}

// dialect is a built dialect: it mounts its routes under its prefix on the public mux.
type dialect interface {
	Mount(mux *http.ServeMux) error
}

// dialectEntry is one row of the dialect table.
type dialectEntry struct {
	name string
	// prefix returns the dialect's prefix, or "" when the config does not enable it.
	prefix func(*config.Config) string
	build  func(deps) dialect
}

// dialects is every dialect the server can speak (the five of docs/protocol.md), mounted in
// this order when enabled.
var dialects = []dialectEntry{
	{
		name: reactauth.Name,
		prefix: func(c *config.Config) string {
			if c.Protocols.ReactAuth == nil {
				return ""
			}
			return c.Protocols.ReactAuth.Prefix
		},
		build: func(d deps) dialect {
			return &reactauth.Handler{Core: d.Core, Config: d.Config, Hub: d.Hub, Logger: d.Logger.With("dialect", reactauth.Name), Now: d.Now}
		},
	},
	{
		name: devisetoken.Name,
		prefix: func(c *config.Config) string {
			if c.Protocols.DeviseToken == nil {
				return ""
			}
			return c.Protocols.DeviseToken.Prefix
		},
		build: func(d deps) dialect {
			return &devisetoken.Handler{Core: d.Core, Config: d.Config, Logger: d.Logger.With("dialect", devisetoken.Name)}
		},
	},
	{
		name: account.Name,
		prefix: func(c *config.Config) string {
			if c.Protocols.Account == nil {
				return ""
			}
			return c.Protocols.Account.Prefix
		},
		build: func(d deps) dialect {
			return &account.Handler{Core: d.Core, Config: d.Config, Logger: d.Logger.With("dialect", account.Name), Now: d.Now}
		},
	},
	{
		name: bearertoken.Name,
		prefix: func(c *config.Config) string {
			if c.Protocols.BearerToken == nil {
				return ""
			}
			return c.Protocols.BearerToken.Prefix
		},
		build: func(d deps) dialect {
			return &bearertoken.Handler{Core: d.Core, Config: d.Config, Logger: d.Logger.With("dialect", bearertoken.Name)}
		},
	},
	{
		name: keytoken.Name,
		prefix: func(c *config.Config) string {
			if c.Protocols.KeyToken == nil {
				return ""
			}
			return c.Protocols.KeyToken.Prefix
		},
		build: func(d deps) dialect {
			return &keytoken.Handler{Core: d.Core, Config: d.Config, Logger: d.Logger.With("dialect", keytoken.Name)}
		},
	},
}
