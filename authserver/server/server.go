package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/dialect"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/mail"
	"github.com/latchauth/latch/authserver/metrics"
	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/socket"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/memory"
	"github.com/latchauth/latch/authserver/store/redisstore"
	"github.com/latchauth/latch/authserver/token"
)

// Probe and startup bounds.
const (
	readyTimeout       = 2 * time.Second
	scriptLoadTimeout  = 5 * time.Second
	adminShutdownGrace = 2 * time.Second
)

// Option tunes Run.
type Option func(*options)

type options struct {
	addrFile string
}

// WithAddrFile makes Run write the bound addresses, as JSON {"public":"host:port",
// "admin":"host:port"}, to path once both ports listen, so a parent process that asked for
// port 0 can find them. The file is written atomically (a rename), so a reader never sees it
// half written.
func WithAddrFile(path string) Option { return func(o *options) { o.addrFile = path } }

// instance is one auth server, built by newServer, served by serve.
type instance struct {
	cfg     *config.Config
	logger  *slog.Logger
	store   store.Store
	outbox  *mail.Outbox
	metrics *metrics.Metrics
	core    *core.Service
	// hub holds the process's live sockets; it listens to the cluster's revocations while
	// the server serves. Nil when no enabled dialect has sockets.
	hub *socket.Hub
	// stopListening ends the hub's revocation subscription and waits for it.
	stopListening func()

	public, admin     *http.Server
	publicLn, adminLn net.Listener
	ready             atomic.Bool
}

// Run builds a server from cfg, serves until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish within listen.shutdownTimeout, drains the mail
// outbox and closes the store. Sessions are never ended or deleted by a shutdown: they live
// in Redis, and the next process (or another replica) serves them.
func Run(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s, err := newServer(ctx, cfg, logger)
	if err != nil {
		return err
	}
	if err := s.listen(); err != nil {
		s.closeBackends(context.Background())
		return err
	}
	public, admin := s.publicLn.Addr().String(), s.adminLn.Addr().String()
	logger.Info("listening", "public", public, "admin", admin, "realm", cfg.Realm)
	if o.addrFile != "" {
		if err := writeAddrFile(o.addrFile, public, admin); err != nil {
			_ = s.publicLn.Close()
			_ = s.adminLn.Close()
			s.closeBackends(context.Background())
			return err
		}
	}
	return s.serve(ctx)
}

// newServer builds every part of a server from cfg without listening.
func newServer(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*instance, error) {
	now := time.Now
	s := &instance{cfg: cfg, logger: logger, metrics: metrics.New()}

	hasher, err := token.NewHasherFromConfig(cfg.TokenHashKey)
	if err != nil {
		return nil, err
	}
	pool, err := password.NewPool(cfg.Passwords)
	if err != nil {
		return nil, err
	}
	s.metrics.WatchPasswordPool(pool, cfg.Passwords.HashWorkers, cfg.Passwords.HashQueue)
	composer, err := mail.NewComposer(cfg.Realm, cfg.Email)
	if err != nil {
		return nil, err
	}
	mailer, err := mail.New(cfg.Email, logger)
	if err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	proxies, err := httpx.ParseTrustedProxies(cfg.BruteForce.TrustedProxies)
	if err != nil {
		return nil, err
	}
	if s.store, err = openStore(ctx, cfg, s.metrics, logger); err != nil {
		return nil, err
	}
	s.outbox = mail.NewOutbox(mailer, mail.OutboxOptions{Logger: logger})
	s.core = &core.Service{
		Store: s.store, Hasher: hasher, Passwords: pool, Mailer: s.outbox, Composer: composer,
		Config: cfg, Logger: logger, Metrics: s.metrics, Now: now,
	}
	if err := s.core.Check(); err != nil {
		s.closeBackends(context.Background())
		return nil, err
	}
	warnIncomplete(cfg, logger)
	defs, push, err := enabledDialects(cfg)
	if err != nil {
		s.closeBackends(context.Background())
		return nil, err
	}
	// The hub exists only when a dialect holds live sockets.
	if push != nil {
		if s.hub, err = newHub(s.store, s.metrics, push, logger); err != nil {
			s.closeBackends(context.Background())
			return nil, err
		}
	}
	mux := http.NewServeMux()
	rootTaken, err := s.mountDialects(mux, defs, dialect.Deps{Config: cfg, Core: s.core, Logger: logger, Now: now, Hub: s.hub})
	if err != nil {
		s.closeBackends(context.Background())
		return nil, err
	}
	if !rootTaken {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			httpx.WriteError(w, r, http.StatusNotFound, "not found")
		})
	}
	mw := &httpx.Middleware{Logger: logger, Metrics: s.metrics, TrustedProxies: proxies, Now: now,
		HSTS: cfg.Listen.SecureCookies}
	s.public = s.httpServer(mw.Wrap(mux), "public")
	s.admin = s.httpServer(s.adminMux(), "admin")
	return s, nil
}

// openStore returns the in-memory store when no Redis is configured, else the Redis store.
// It does not wait for Redis: a server whose Redis is down starts and reports not ready.
func openStore(ctx context.Context, cfg *config.Config, m *metrics.Metrics, logger *slog.Logger) (store.Store, error) {
	if cfg.Redis == nil {
		logger.Warn("no redis configured: using the in-memory store (one replica, development only)")
		return memory.New(), nil
	}
	rs, err := redisstore.Open(cfg.Redis)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	// go-redis's own lines as JSON (its logger is process-wide: the last server started wins).
	clientLog := redisstore.SetClientLogger(logger)
	// An outage is logged once by the monitor, not by every request that meets it.
	rs.SetLogger(logger)
	health := redisstore.NewHealth(logger)
	rs.AddHook(health)
	rt := &redisstore.RoundTrips{}
	rs.AddHook(rt)
	m.WatchStoreRoundTrips(rt.Count)
	m.WatchStore(metrics.StoreSources{
		Health:        health,
		MasterChanges: clientLog.MasterChanges,
		Pool: func() metrics.StorePool {
			p := rs.PoolStats()
			return metrics.StorePool{Hits: uint64(p.Hits), Misses: uint64(p.Misses), Timeouts: uint64(p.Timeouts),
				Stale: uint64(p.StaleConns), Total: uint64(p.TotalConns), Idle: uint64(p.IdleConns)}
		},
		Counters: func() metrics.StoreCounters {
			st := rs.Stats()
			return metrics.StoreCounters{ReadFallbacks: st.ReadFallbacks, FenceFailures: st.FenceFailures,
				Failovers: st.Failovers, FailoverUnderWay: st.FailoverUnderWay,
				Resubscribes: st.Resubscribes, LastRevocationMessage: st.LastRevocationMessage}
		},
	})
	lctx, cancel := context.WithTimeout(ctx, scriptLoadTimeout)
	defer cancel()
	if err := rs.LoadScripts(lctx); err != nil {
		logger.Warn("cannot preload redis scripts; each loads on first use", "error", err)
	}
	return rs, nil
}

// warnIncomplete logs settings whose absence breaks a feature without breaking startup.
func warnIncomplete(cfg *config.Config, logger *slog.Logger) {
	if cfg.Email.ResetURL == "" {
		logger.Warn("email.resetURL is not set: password reset mail cannot be sent")
	}
	if cfg.Registration.Confirms() && cfg.Email.ConfirmURL == "" {
		logger.Warn("email.confirmURL is not set but registration.emailConfirmation is " + string(cfg.Registration.EmailConfirmation) +
			": confirmation mail cannot be sent (but deviseToken's, which link to publicURL when it is set)")
	}
}

func (s *instance) httpServer(h http.Handler, name string) *http.Server {
	l := s.cfg.Listen
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout.Duration,
		ReadTimeout:       l.ReadTimeout.Duration,
		WriteTimeout:      l.WriteTimeout.Duration,
		IdleTimeout:       l.IdleTimeout.Duration,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.With("server", name).Handler(), slog.LevelWarn),
	}
}

// adminMux serves /healthz, /readyz and /metrics, and nothing else unless listen.pprof adds
// the profiler.
func (s *instance) adminMux() http.Handler {
	mux := http.NewServeMux()
	if s.cfg.Listen.Pprof {
		mountPprof(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: not serving\n"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.store.Ping(ctx); err != nil {
			s.logger.Warn("not ready: store unreachable", "error", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: store unreachable\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", s.metrics.Handler())
	return mux
}

// listen binds both ports.
func (s *instance) listen() error {
	var err error
	if s.publicLn, err = net.Listen("tcp", s.cfg.Listen.Public); err != nil {
		return fmt.Errorf("listen.public: %w", err)
	}
	if s.adminLn, err = net.Listen("tcp", s.cfg.Listen.Admin); err != nil {
		_ = s.publicLn.Close()
		return fmt.Errorf("listen.admin: %w", err)
	}
	return nil
}

// serve runs both servers until ctx ends or one fails, then shuts down.
func (s *instance) serve(ctx context.Context) error {
	// Requests must outlive the signal: their contexts come from a base that a SIGTERM
	// does not cancel, or every in-flight store call would fail during the drain.
	base := context.WithoutCancel(ctx)
	s.public.BaseContext = func(net.Listener) context.Context { return base }
	s.admin.BaseContext = func(net.Listener) context.Context { return base }

	// The hub hears revocations before the first socket can bind. A socket bound before the
	// subscription is in place is still covered: each subscription starts a resync.
	s.stopListening = func() {}
	if s.hub != nil {
		listenCtx, cancelListen := context.WithCancel(base)
		var listening sync.WaitGroup
		listening.Go(func() { _ = s.hub.Listen(listenCtx, s.store) })
		s.stopListening = func() {
			cancelListen()
			listening.Wait()
		}
	}

	failed := make(chan error, 2)
	var wg sync.WaitGroup
	for _, srv := range []struct {
		h  *http.Server
		ln net.Listener
	}{{s.public, s.publicLn}, {s.admin, s.adminLn}} {
		wg.Go(func() {
			if err := srv.h.Serve(httpx.AnswerStalledHeaders(srv.h, srv.ln)); !errors.Is(err, http.ErrServerClosed) {
				failed <- err
			}
		})
	}
	s.ready.Store(true)

	var serveErr error
	select {
	case <-ctx.Done():
		s.logger.Info("shutting down", "reason", context.Cause(ctx).Error(), "timeout", s.cfg.Listen.ShutdownTimeout.String())
	case serveErr = <-failed:
		s.logger.Error("server failed; shutting down", "error", serveErr)
	}
	err := s.shutdown()
	wg.Wait()
	return errors.Join(serveErr, err)
}

// shutdown stops accepting, drains in-flight requests and the mail outbox within
// listen.shutdownTimeout, and closes the store. It never touches a session.
func (s *instance) shutdown() error {
	s.ready.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Listen.ShutdownTimeout.Duration)
	defer cancel()

	var errs []error
	var wg sync.WaitGroup
	// The hub's sockets are hijacked, so the drain below does not see them: its Shutdown
	// closes them with 1001 and ends no session, beside the drain.
	if s.hub != nil {
		wg.Go(func() {
			if err := s.hub.Shutdown(ctx); err != nil {
				s.logger.Warn("socket hub shutdown", "error", err)
			}
		})
	}
	if err := s.public.Shutdown(ctx); err != nil {
		s.logger.Error("in-flight requests did not finish in time; closing their connections", "error", err)
		_ = s.public.Close()
		errs = append(errs, fmt.Errorf("public server shutdown: %w", err))
	}
	wg.Wait()
	actx, acancel := context.WithTimeout(context.Background(), adminShutdownGrace)
	defer acancel()
	if err := s.admin.Shutdown(actx); err != nil {
		_ = s.admin.Close()
	}
	// The sockets are closed: nothing is left to push to. Stop listening before the store
	// that feeds it closes.
	s.stopListening()
	s.closeBackends(ctx)
	s.logger.Info("shut down")
	return errors.Join(errs...)
}

// closeBackends waits for the core's background work (reset mails of answered requests),
// drains the outbox (within ctx) and closes the store.
func (s *instance) closeBackends(ctx context.Context) {
	if s.core != nil {
		s.core.Wait()
	}
	if s.outbox != nil {
		if err := s.outbox.Close(ctx); err != nil {
			s.logger.Error("mail outbox not drained", "error", err)
		}
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.logger.Warn("closing the store", "error", err)
		}
	}
}

// writeAddrFile writes the bound addresses through a temporary file and a rename.
func writeAddrFile(path, public, admin string) error {
	b, err := json.Marshal(map[string]string{"public": public, "admin": admin})
	if err != nil {
		return fmt.Errorf("address file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".addr-*")
	if err != nil {
		return fmt.Errorf("address file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("address file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("address file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("address file: %w", err)
	}
	return nil
}
