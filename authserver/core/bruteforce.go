package core

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// unknownIP keys the brute-force counters of requests whose address is unknown (a caller that
// set no Meta.ClientIP); they share one counter, which fails safe.
const unknownIP = "unknown"

// devicePrefix separates device-cookie MACs from token hashes: a token secret is base64url
// and never contains ':', so no token hash can ever equal a device MAC.
const devicePrefix = "device:"

// guard is how one password attempt for a login is judged (OWASP's device-cookie approach):
// a client holding a valid device cookie for the login is judged by that cookie's counter
// alone; any other client (a stranger) by its address, its (login, address) pair and the
// login's strangers' counter. So a stranger's failures, however many, never lock the owner
// out of a device they signed in on before, and one address spends at most its pair's limit
// of the login's budget.
type guard struct {
	subjects []store.Subject
	limits   []store.BruteForceLimit
	// pair is the counter a success resets: the device's, or the (login, address) pair's.
	// The login's strangers' counter is never reset by a success, so the cap on guesses per
	// hour holds however often the owner signs in; the address's neither, or one valid
	// account would let an attacker reset their address's count at will.
	pair store.Subject
}

// lockKinds names each subject kind in audit events.
var lockKinds = map[store.SubjectKind]string{
	store.SubjectLogin: "login", store.SubjectIP: "ip", store.SubjectLoginIP: "login_ip", store.SubjectDevice: "device",
}

// guardFor builds the guard of an attempt on login (normalized) from the request's address
// and device cookie.
func (s *Service) guardFor(login string, m Meta) guard {
	bf := s.Config.BruteForce
	limit := func(max int, progressive bool) store.BruteForceLimit {
		l := store.BruteForceLimit{MaxFailures: max, Window: bf.Window.Duration, Lockout: bf.Lockout.Duration}
		if progressive {
			// Past half the limit each failure waits longer: a typo costs nothing, a guesser
			// slows down fast, and the lock comes only at the limit.
			l.Delay, l.FreeFailures = bf.Delay.Duration, max/2
		}
		return l
	}
	if id, ok := s.deviceID(m.Device, login); ok {
		dev := store.DeviceSubject(id)
		return guard{subjects: []store.Subject{dev}, limits: []store.BruteForceLimit{limit(bf.MaxFailuresPerDevice, true)}, pair: dev}
	}
	ip := m.ClientIP
	if ip == "" {
		ip = unknownIP
	}
	pair := store.LoginIPSubject(login, ip)
	return guard{
		subjects: []store.Subject{store.IPSubject(ip), pair, store.LoginSubject(login)},
		limits: []store.BruteForceLimit{
			limit(bf.MaxFailuresPerIP, false), limit(bf.MaxFailuresPerLoginAndIP, true), limit(bf.MaxFailuresPerLogin, true),
		},
		pair: pair,
	}
}

// locked reports whether any of the guard's counters holds the attempt back, in one round
// trip. A store error is returned as is: the caller fails the request as internal, never as
// "not locked".
func (s *Service) locked(ctx context.Context, g guard, now time.Time) (bool, error) {
	states, err := s.Store.CheckLockouts(ctx, g.subjects, now)
	if err != nil {
		return false, internal("check lockout", err)
	}
	for _, l := range states {
		if l.Locked {
			return true, nil
		}
	}
	return false, nil
}

// countTimeout bounds the counting of a failure, which outlives the request's context.
const countTimeout = 5 * time.Second

// countFailure counts an attempt that reached the password and failed, against each of the
// guard's counters, and audits a lock it causes. An attempt refused by a lock is never
// counted: a locked address adds nothing to any login's counters. The count does not depend on
// the request's context: a client that hangs up while its password is being hashed must not
// make its guess go uncounted. A store error is returned, and the caller answers it as
// internal, never as a plain failure: an uncounted guess must not get an answer.
func (s *Service) countFailure(ctx context.Context, m Meta, g guard, userID string, now time.Time) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), countTimeout)
	defer cancel()
	var errs []error
	for i, sub := range g.subjects {
		after, err := s.Store.RecordFailure(ctx, sub, g.limits[i], now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if after.Locked && after.Failures == 0 {
			// Failures is zero only when this failure reached the limit: a progressive delay
			// keeps the count and is not a lockout.
			s.Metrics.ObserveLockout(m.Dialect, lockKinds[sub.Kind])
			s.audit(ctx, m, "lockout", userID, outcomeSuccess, slog.String("subject", lockKinds[sub.Kind]),
				slog.Time("until", after.Until))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return internal("count a failed login", err)
	}
	return nil
}

// serialize makes this process judge the password attempts on one login one at a time, from
// the lock check to the count: concurrent guesses would otherwise all pass the check before
// any was counted, and a burst of hundreds would all reach the hash. Across replicas at most
// one attempt per replica is in flight at once. Call the returned func when done.
func (s *Service) serialize(login string) func() {
	s.attemptsMu.Lock()
	if s.attempts == nil {
		s.attempts = map[string]*loginTurn{}
	}
	t := s.attempts[login]
	if t == nil {
		t = &loginTurn{}
		s.attempts[login] = t
	}
	t.waiting++
	s.attemptsMu.Unlock()
	t.Lock()
	return func() {
		t.Unlock()
		s.attemptsMu.Lock()
		if t.waiting--; t.waiting == 0 {
			delete(s.attempts, login)
		}
		s.attemptsMu.Unlock()
	}
}

// loginTurn is one login's turn lock; waiting counts its holder and waiters, so the map
// holds only logins being tried right now.
type loginTurn struct {
	sync.Mutex
	waiting int
}

// clearFailures forgets the failures of the guard's pair (or device) after a success.
func (s *Service) clearFailures(ctx context.Context, m Meta, g guard) {
	if err := s.Store.ResetFailures(ctx, g.pair); err != nil {
		s.Logger.WarnContext(ctx, "cannot reset failed-login counter", "request_id", m.RequestID, "error", err)
	}
}

// unlockLogin lifts the lock strangers' failures put on a login, when the owner proves they
// hold the mailbox (a password reset).
func (s *Service) unlockLogin(ctx context.Context, m Meta, login string) {
	if err := s.Store.ResetFailures(ctx, store.LoginSubject(login)); err != nil {
		s.Logger.WarnContext(ctx, "cannot reset failed-login counter", "request_id", m.RequestID, "error", err)
	}
}

// NewDeviceCookie returns a device cookie for login: `<nonce>.<issued>.<MAC>`, the MAC keyed by
// the realm's token key over the login, the nonce and the issue time (Unix seconds), so it
// cannot be forged, moved to another login or kept past bruteForce.deviceCookieLifespan, and
// nothing of it needs storing.
func (s *Service) NewDeviceCookie(login string) (string, error) {
	nonce, err := token.New()
	if err != nil {
		return "", internal("device cookie", err)
	}
	issued := strconv.FormatInt(s.Now().Unix(), 10)
	return nonce + "." + issued + "." + s.deviceMAC(store.NormalizeLogin(login), nonce, issued), nil
}

// deviceID checks a presented device cookie against login (normalized) and its lifespan, and
// returns the identifier its counter is kept under (its MAC: the nonce never reaches the store).
func (s *Service) deviceID(cookie, login string) (string, bool) {
	nonce, rest, ok := strings.Cut(cookie, ".")
	if !ok {
		return "", false
	}
	issued, mac, ok := strings.Cut(rest, ".")
	if !ok || !token.ValidSecret(nonce) || len(mac) != token.HashLen || len(issued) > 12 {
		return "", false
	}
	at, err := strconv.ParseInt(issued, 10, 64)
	if err != nil || !s.Now().Before(time.Unix(at, 0).Add(s.Config.BruteForce.DeviceCookieLifespan.Duration)) {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(mac), []byte(s.deviceMAC(login, nonce, issued))) != 1 {
		return "", false
	}
	return mac, true
}

func (s *Service) deviceMAC(login, nonce, issued string) string {
	return s.Hasher.Hash(devicePrefix + store.LoginSubject(login).Value + ":" + nonce + ":" + issued)
}
