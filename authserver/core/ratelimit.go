package core

import (
	"context"
	"log/slog"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
)

// The rate-limited actions (config.RateLimits), as named in counters and audit events.
const (
	actionRegister     = "register"
	actionForgot       = "forgot"
	actionConfirmation = "confirmation"
)

// rateLimit counts one request of action against its client address's limit (IPv6 per /64)
// and its login's, known or not, and returns ErrRateLimited past either. The counters live in
// the store, so every replica shares them; a request refused by the address's limit is not
// counted against the login's. A store error is internal: fail closed.
func (s *Service) rateLimit(ctx context.Context, m Meta, action string, limit config.RateLimit, login string) error {
	ip := m.ClientIP
	if ip == "" {
		ip = unknownIP
	}
	now := s.Now()
	for _, c := range []struct {
		subj store.Subject
		max  int
	}{
		{store.RateSubject(action+".ip", store.AddressBlock(ip)), limit.PerIP},
		{store.RateSubject(action+".login", store.NormalizeLogin(login)), limit.PerLogin},
	} {
		// The limit+1-th request locks the counter until the window's end: every request up
		// to the limit passes, and none after it.
		l, err := s.Store.RecordFailure(ctx, c.subj, store.BruteForceLimit{
			MaxFailures: c.max + 1, Window: limit.Window.Duration, Lockout: limit.Window.Duration,
		}, now)
		if err != nil {
			return internal("rate limit "+action, err)
		}
		if l.Locked {
			s.audit(ctx, m, action, "", outcomeRefused, slog.String("reason", "rate_limited"))
			return ErrRateLimited
		}
	}
	return nil
}
