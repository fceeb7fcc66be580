package core

import (
	"context"
	"log/slog"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// unknownIP keys the brute-force counter of requests whose address is unknown (a caller that
// set no Meta.ClientIP); they share one counter, which fails safe.
const unknownIP = "unknown"

// subjects returns the counters a login attempt is judged by: its login (known or not, so a
// lockout says nothing about which logins exist) and its client address.
func subjects(login, ip string) [2]store.Subject {
	if ip == "" {
		ip = unknownIP
	}
	return [2]store.Subject{store.LoginSubject(login), store.IPSubject(ip)}
}

// lockState is whether each subject was locked when the attempt began.
type lockState [2]bool

func (l lockState) any() bool { return l[0] || l[1] }

// checkLocks reads both subjects' lockout state. A store error is returned as is: the caller
// fails the request as internal, never as "not locked".
func (s *Service) checkLocks(ctx context.Context, subj [2]store.Subject, now time.Time) (lockState, error) {
	var st lockState
	for i, sub := range subj {
		l, err := s.Store.CheckLockout(ctx, sub, now)
		if err != nil {
			return st, internal("check lockout", err)
		}
		st[i] = l.Locked
	}
	return st, nil
}

// recordFailure counts a failed attempt against both subjects and audits a lock it causes.
// Errors are logged, not returned: the attempt has failed already, and the answer to the
// client must not depend on the counter.
func (s *Service) recordFailure(ctx context.Context, m Meta, subj [2]store.Subject, was lockState, userID string, now time.Time) {
	bf := s.Config.BruteForce
	limits := [2]store.BruteForceLimit{
		{MaxFailures: bf.MaxFailuresPerLogin, Window: bf.Window.Duration, Lockout: bf.Lockout.Duration},
		{MaxFailures: bf.MaxFailuresPerIP, Window: bf.Window.Duration, Lockout: bf.Lockout.Duration},
	}
	for i, sub := range subj {
		after, err := s.Store.RecordFailure(ctx, sub, limits[i], now)
		if err != nil {
			s.Logger.WarnContext(ctx, "cannot record a failed login", "request_id", m.RequestID, "error", err)
			continue
		}
		if after.Locked && !was[i] {
			kind := "login"
			if sub.Kind == store.SubjectIP {
				kind = "ip"
			}
			s.audit(ctx, m, "lockout", userID, outcomeSuccess, slog.String("subject", kind),
				slog.Time("until", after.Until))
		}
	}
}

// clearFailures forgets the login's failures after a success. The address's counter is kept:
// otherwise one valid account would let an attacker reset their address's count at will.
func (s *Service) clearFailures(ctx context.Context, m Meta, login string) {
	if err := s.Store.ResetFailures(ctx, store.LoginSubject(login)); err != nil {
		s.Logger.WarnContext(ctx, "cannot reset failed-login counter", "request_id", m.RequestID, "error", err)
	}
}
