package password

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/latchauth/latch/authserver/config"
)

// ErrBusy is returned when every worker is busy and the queue is full. Dialects answer it with
// their internal-error response: refusing is what keeps memory flat under a login flood.
var ErrBusy = errors.New("password hashing is saturated")

// MaxVerifyLen bounds the password Verify will hash, in bytes: the largest maxLength the config
// allows. It is a resource bound only; the policy's own MaxLength applies to new passwords, so
// lowering it does not lock out users whose passwords were set under a higher one.
const MaxVerifyLen = 4096

// Pool runs argon2id with at most Workers computations at once and at most Queue callers
// waiting for one, so peak hashing memory is about Workers × MemoryKiB whatever the request
// rate. The computation runs on the caller's goroutine once it holds a worker slot: there is no
// hand-off and nothing to shut down. A Pool is safe for concurrent use.
type Pool struct {
	params config.Argon2
	policy Policy
	kdf    kdf

	// slots holds one token per running computation; waiters block on sending to it, and Go
	// wakes blocked senders in arrival order, so the queue is first come, first served.
	slots    chan struct{}
	maxQueue int64
	queued   atomic.Int64

	// dummy is a hash of a random password with the current parameters, verified against for
	// unknown logins so they cost what a known login costs.
	dummy PHC
	// floors holds what a Floor is measured against (floor.go).
	floors floors
}

// NewPool validates the config's hashing parameters and computes the dummy hash (one hash's
// time at startup).
func NewPool(c config.Passwords) (*Pool, error) {
	return newPool(c, argon2.IDKey)
}

func newPool(c config.Passwords, f kdf) (*Pool, error) {
	if err := checkParams(c.Argon2); err != nil {
		return nil, fmt.Errorf("passwords.argon2: %w", err)
	}
	if c.HashWorkers < 1 {
		return nil, fmt.Errorf("passwords.hashWorkers: must be at least 1, got %d", c.HashWorkers)
	}
	if c.HashQueue < 1 {
		return nil, fmt.Errorf("passwords.hashQueue: must be at least 1, got %d", c.HashQueue)
	}
	p := &Pool{
		params:   c.Argon2,
		policy:   PolicyFrom(c),
		kdf:      f,
		slots:    make(chan struct{}, c.HashWorkers),
		maxQueue: int64(c.HashQueue),
	}
	// The dummy's password is random and discarded, so nothing can ever match it.
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("password: dummy hash: %w", err)
	}
	dummy, err := hash(f, string(secret[:]), c.Argon2)
	if err != nil {
		return nil, fmt.Errorf("password: dummy hash: %w", err)
	}
	if p.dummy, err = ParsePHC(dummy); err != nil {
		return nil, fmt.Errorf("password: dummy hash: %w", err)
	}
	// One check's time starts the running average a Floor is scaled by.
	began := time.Now()
	_, _ = verify(f, "", p.dummy, c.Argon2)
	p.floors.observeArgon(time.Since(began))
	return p, nil
}

// Params returns the current hashing parameters.
func (p *Pool) Params() config.Argon2 { return p.params }

// Policy returns the password policy that Hash enforces.
func (p *Pool) Policy() Policy { return p.policy }

// Running returns the number of computations in progress (for metrics).
func (p *Pool) Running() int { return len(p.slots) }

// Queued returns the number of callers waiting for a worker (for metrics).
func (p *Pool) Queued() int { return int(p.queued.Load()) }

// Hash checks password against the policy and returns its PHC string with the current
// parameters. Errors: the policy's (ErrTooShort, ErrTooLong, ErrNotUTF8), ErrBusy, or ctx's
// error if ctx ends while queued.
func (p *Pool) Hash(ctx context.Context, password string) (string, error) {
	if err := p.policy.Check(password); err != nil {
		return "", err
	}
	var encoded string
	var err error
	if qerr := p.run(ctx, func() { encoded, err = hash(p.kdf, password, p.params) }); qerr != nil {
		return "", qerr
	}
	return encoded, err
}

// Verify checks password against encoded with the hash's stored parameters and reports whether
// the hash should be replaced with Hash's output. Errors: ErrMismatch for a wrong password (or
// one longer than MaxVerifyLen), ErrMalformedHash, ErrBusy, or ctx's error if ctx ends while
// queued. A malformed hash is refused before queueing: it costs nothing to find out.
//
// Besides argon2id, encoded may be any of the foreign schemes users are imported with
// (foreign.go): they are verified in the same pool, since a bcrypt or PBKDF2 check costs a
// worker as much as an argon2id one, and always need a rehash.
func (p *Pool) Verify(ctx context.Context, password, encoded string) (needsRehash bool, err error) {
	return p.VerifyFloored(ctx, password, encoded, nil)
}

// VerifyFloored is Verify whose mismatch is answered no sooner than floor's Floor (FloorOf)
// after the check began computing: a login's check, so that its time does not depend on which
// scheme the user's hash is in. floor is asked only after a mismatch (a success is never held
// back, so it costs nothing there); its error is returned instead of ErrMismatch. A malformed
// hash is not held back here; the caller then checks the dummy hash with the same floor.
func (p *Pool) VerifyFloored(ctx context.Context, password, encoded string, floor FloorFunc) (needsRehash bool, err error) {
	if !strings.HasPrefix(encoded, "$argon2id$") {
		f, err := parseForeign(encoded)
		if err != nil {
			return false, err
		}
		return true, p.verifyForeign(ctx, password, f, floor)
	}
	h, err := ParsePHC(encoded)
	if err != nil {
		return false, err
	}
	return p.verify(ctx, password, h, floor)
}

// VerifyBcrypt checks secret against a bcrypt hash in the pool: ErrMismatch, ErrMalformedHash
// for anything that is not a bcrypt hash within MaxBcryptCost, ErrBusy, or ctx's error. It is
// for secrets other than passwords that a migrated system stored as bcrypt (devise_token_auth's
// access tokens); no other scheme is accepted, so such a record cannot name a costlier one.
func (p *Pool) VerifyBcrypt(ctx context.Context, secret, hash string) error {
	if !strings.HasPrefix(hash, "$2") {
		return fmt.Errorf("%w: not a bcrypt hash", ErrMalformedHash)
	}
	f, err := parseForeign(hash)
	if err != nil {
		return err
	}
	if f.scheme != SchemeBcrypt {
		return fmt.Errorf("%w: not a bcrypt hash", ErrMalformedHash)
	}
	return p.verifyForeign(ctx, secret, f, nil)
}

func (p *Pool) verifyForeign(ctx context.Context, password string, f foreign, floor FloorFunc) error {
	if len(password) > MaxVerifyLen {
		return ErrMismatch
	}
	ok := false
	var began time.Time
	if qerr := p.run(ctx, func() {
		began = time.Now()
		ok = f.match([]byte(password))
		p.floors.observeForeign(costKey{f.scheme, f.cost}, time.Since(began))
	}); qerr != nil {
		return qerr
	}
	if !ok {
		return p.holdBack(ctx, began, floor)
	}
	return nil
}

// VerifyUnknown does the work of a Verify against the dummy hash, for a login whose user does
// not exist, so the response time does not tell which users exist. It always returns an
// error: ErrMismatch once the work is done, like a wrong password, or ErrBusy or ctx's error
// exactly as Verify would, so a caller can treat both paths alike.
func (p *Pool) VerifyUnknown(ctx context.Context, password string) error {
	return p.VerifyUnknownFloored(ctx, password, nil)
}

// VerifyUnknownFloored is VerifyUnknown answered no sooner than floor's Floor after the check
// began computing, as VerifyFloored's mismatch is.
func (p *Pool) VerifyUnknownFloored(ctx context.Context, password string, floor FloorFunc) error {
	_, err := p.verify(ctx, password, p.dummy, floor)
	if err == nil {
		// Unreachable: the dummy's password is 32 random bytes nobody knows.
		err = ErrMismatch
	}
	return err
}

func (p *Pool) verify(ctx context.Context, password string, h PHC, floor FloorFunc) (bool, error) {
	if len(password) > MaxVerifyLen {
		// No stored hash can be of such a password. The early answer reveals only the length
		// the caller chose, and is the same for known and unknown users.
		return false, ErrMismatch
	}
	var rehash bool
	var err error
	var began time.Time
	if qerr := p.run(ctx, func() {
		began = time.Now()
		rehash, err = verify(p.kdf, password, h, p.params)
		if h.Params == p.params {
			p.floors.observeArgon(time.Since(began))
		}
	}); qerr != nil {
		return false, qerr
	}
	if errors.Is(err, ErrMismatch) {
		err = p.holdBack(ctx, began, floor)
	}
	return rehash, err
}

// run waits for a worker slot, FIFO, unless maxQueue callers already wait (ErrBusy) or ctx ends
// first (ctx.Err()); then it runs f on the caller's goroutine. A caller that gives up leaves the
// queue at once, so abandoned requests never hold queue space or run hashes.
func (p *Pool) run(ctx context.Context, f func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.slots <- struct{}{}:
		// A free worker: no need to count as queued.
	default:
		if p.queued.Add(1) > p.maxQueue {
			p.queued.Add(-1)
			return ErrBusy
		}
		select {
		case p.slots <- struct{}{}:
			p.queued.Add(-1)
		case <-ctx.Done():
			p.queued.Add(-1)
			return ctx.Err()
		}
	}
	defer func() { <-p.slots }()
	f()
	return nil
}
