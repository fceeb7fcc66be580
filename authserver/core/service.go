package core

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/mail"
	"github.com/latchauth/latch/authserver/metrics"
	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// Service is the core shared by every dialect: the same users, sessions and revocation
// whichever protocol a client speaks. Its fields are its dependencies; set them all, then
// call Check once. A Service is safe for concurrent use.
type Service struct {
	// Store holds users, sessions, one-time tokens and brute-force counters.
	Store store.Store
	// Hasher hashes every token before it reaches the store.
	Hasher *token.Hasher
	// Passwords hashes and verifies passwords in a bounded pool.
	Passwords *password.Pool
	// Mailer sends reset and confirmation mail and the notices of sensitive changes; a
	// *mail.Outbox, so no request waits on SMTP.
	Mailer mail.Mailer
	// Composer renders the mail.
	Composer *mail.Composer
	// Config supplies the session lifetimes, registration rules, brute-force limits and
	// one-time token lifespans.
	Config *config.Config
	// Logger receives audit events (info, audit=true) and operational errors.
	Logger *slog.Logger
	// Metrics records each operation; nil records nothing.
	Metrics *metrics.Metrics
	// Now is the clock every expiry is judged by.
	Now func() time.Time

	// attempts holds the turn lock of each login being tried now (serialize).
	attemptsMu sync.Mutex
	attempts   map[string]*loginTurn

	// bg tracks work done after a request's answer (background); bgSlots bounds it.
	bg      sync.WaitGroup
	bgOnce  sync.Once
	bgSlots chan struct{}
}

// The bounds of background work: how many run at once (beyond that, a request waits for a
// slot, whatever its outcome) and how long one may take.
const (
	maxBackground     = 64
	backgroundTimeout = 30 * time.Second
)

// background runs work after the request that asked for it has been answered, so the
// answer's timing does not depend on it. Wait drains it.
func (s *Service) background(ctx context.Context, work func(context.Context)) {
	s.bgOnce.Do(func() { s.bgSlots = make(chan struct{}, maxBackground) })
	select {
	case s.bgSlots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	s.bg.Add(1)
	go func() {
		defer func() {
			<-s.bgSlots
			s.bg.Done()
		}()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backgroundTimeout)
		defer cancel()
		work(ctx)
	}()
}

// Wait returns when the background work of answered requests is done: a server calls it on
// shutdown before it closes the store and the mail outbox.
func (s *Service) Wait() { s.bg.Wait() }

// Check reports a missing dependency.
func (s *Service) Check() error {
	var errs []error
	for _, dep := range []struct {
		name    string
		missing bool
	}{
		{"Store", s.Store == nil}, {"Hasher", s.Hasher == nil}, {"Passwords", s.Passwords == nil},
		{"Mailer", s.Mailer == nil}, {"Composer", s.Composer == nil}, {"Config", s.Config == nil},
		{"Logger", s.Logger == nil}, {"Now", s.Now == nil},
	} {
		if dep.missing {
			errs = append(errs, errors.New("core: Service."+dep.name+" is not set"))
		}
	}
	return errors.Join(errs...)
}

// Meta is what the core needs to know about the request it serves: who asks, from where,
// through which dialect. It labels sessions, audit events and metrics, and keys the
// brute-force limit per address.
type Meta struct {
	// Dialect names the protocol ("account", "deviseToken", ...). New sessions carry it.
	Dialect string
	// ClientIP is the client's address, resolved through trusted proxies.
	ClientIP string
	// UserAgent is the client's User-Agent header; a new session keeps it (truncated) for the
	// session lists.
	UserAgent string
	// RequestID ties audit events to the access log.
	RequestID string
	// Device is the device cookie the client presented, if any: a client that signed in to a
	// login before is judged by its own brute-force counter (NewDeviceCookie).
	Device string
}

// The outcomes of operations, for audit events and metric labels. A fixed set: labels are
// never built from client input.
const (
	outcomeSuccess      = "success"
	outcomeInvalid      = "invalid_credentials"
	outcomeInvalidToken = "invalid_token"
	outcomeRefused      = "refused"
	outcomeError        = "error"
)

// observe records an operation's outcome (from its error) and duration; defer it.
// Durations use the real clock: Now is for expiry logic, which tests move at will.
func (s *Service) observe(m Meta, op string, began time.Time, err error) {
	s.Metrics.ObserveOperation(m.Dialect, op, outcomeOf(err), time.Since(began))
}

// audit writes one audit event. It carries identifiers, never a password, token or hash.
func (s *Service) audit(ctx context.Context, m Meta, event, userID, outcome string, attrs ...slog.Attr) {
	base := []slog.Attr{
		slog.Bool("audit", true),
		slog.String("event", event),
		slog.String("user_id", userID),
		slog.String("client_ip", m.ClientIP),
		slog.String("dialect", m.Dialect),
		slog.String("outcome", outcome),
		slog.String("request_id", m.RequestID),
	}
	s.Logger.LogAttrs(ctx, slog.LevelInfo, "audit", append(base, attrs...)...)
}

// errorOutcome names the outcome of a failed operation for metrics.
func errorOutcome(err error) string {
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		return outcomeInvalid
	case errors.Is(err, ErrInvalidToken):
		return outcomeInvalidToken
	case errors.Is(err, ErrRegistrationClosed), errors.Is(err, ErrLoginTaken), errors.Is(err, ErrInvalidInput),
		errors.Is(err, ErrWeakPassword), errors.Is(err, ErrDeviceLimit), errors.Is(err, ErrUnknownClient),
		errors.Is(err, ErrRateLimited), errors.Is(err, ErrPasswordRequired):
		return outcomeRefused
	}
	return outcomeError
}

// outcomeOf is errorOutcome that also names success.
func outcomeOf(err error) string {
	if err == nil {
		return outcomeSuccess
	}
	return errorOutcome(err)
}

// loggableID returns id if it is a well-formed ID, else "": client-supplied IDs go into audit
// events only when they cannot carry anything else.
func loggableID(id string) string {
	if token.ValidID(id) {
		return id
	}
	return ""
}
