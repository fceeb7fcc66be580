package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// Options tune Run.
type Options struct {
	// Workers is how many users are written at once (default 32). Creating a user is two
	// store round trips and storing its tokens one more, so throughput is about Workers
	// divided by the round-trip time, until Redis itself is busy.
	Workers int
	// Confirms is the realm's registration.emailConfirmation asking for confirmation: a user
	// without confirmed_at is then imported pending (and gets the realm's confirmation
	// rules), otherwise active, as a new registration would be.
	Confirms bool
	// Now is the clock (default time.Now): expired tokens are dropped against it.
	Now func() time.Time
	// OnError is told of every line that fails, in no particular order, from one goroutine
	// at a time.
	OnError func(*LineError)
}

// Counts are an import's outcome, by line.
type Counts struct {
	Read int `json:"read"`
	// Created users, and among them Pending ones (without confirmed_at, in a realm that
	// confirms).
	Created int `json:"created"`
	Pending int `json:"pending"`
	// Skipped lines name a login that exists already: it is left as it is, so a re-run of an
	// import creates only what the last run did not.
	Skipped int `json:"skipped"`
	// Failed lines could not be read or imported (OnError says why).
	Failed int `json:"failed"`
	// Tokens are the devise_token_auth tokens stored; ExpiredTokens were dropped.
	Tokens        int `json:"tokens"`
	ExpiredTokens int `json:"expiredTokens"`
	// ForeignHashes counts the created users whose password hash is another system's
	// (bcrypt, PBKDF2, argon2i): each is rehashed to argon2id at its first login, and until
	// the last one is, every failed login in the realm takes as long as a check of the
	// costliest of them (store.ImportedHashes).
	ForeignHashes int `json:"foreignHashes"`
}

// Run reads every record of r and creates its user in st, Workers at a time, holding at most
// a few records per worker in memory. A line that fails is reported to OnError and counted,
// and the import goes on; Run's error is for what ends it early: the file cannot be read on,
// ctx ends, or the store is unavailable (an outage would otherwise fail every line after it).
func Run(ctx context.Context, st store.Store, r Reader, o Options) (Counts, error) {
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	led := &ledger{st: st, costs: map[password.Scheme]int64{}}

	var mu sync.Mutex
	var c Counts
	fail := func(e *LineError) {
		mu.Lock()
		defer mu.Unlock()
		c.Failed++
		if o.OnError != nil {
			o.OnError(e)
		}
	}
	records := make(chan Record, 2*o.Workers)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() {
			for rec := range records {
				out, err := importOne(ctx, st, led, rec, o)
				if errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
					cancel(err)
					continue
				}
				if err != nil {
					fail(&LineError{Line: rec.Line, Err: err})
					continue
				}
				mu.Lock()
				c.Created += out.created
				c.Pending += out.pending
				c.Skipped += out.skipped
				c.Tokens += out.tokens
				c.ExpiredTokens += out.expired
				c.ForeignHashes += out.foreign
				mu.Unlock()
			}
		})
	}
	var readErr error
	for ctx.Err() == nil {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *LineError
		if errors.As(err, &le) {
			mu.Lock()
			c.Read++
			mu.Unlock()
			fail(le)
			continue
		}
		if err != nil {
			readErr = err
			break
		}
		mu.Lock()
		c.Read++
		mu.Unlock()
		select {
		case records <- rec:
		case <-ctx.Done():
		}
	}
	close(records)
	wg.Wait()
	// Even after an early end: an unused reservation would keep every login's floor after
	// the last imported user has logged in.
	if err := led.giveBack(context.WithoutCancel(ctx)); err != nil && context.Cause(ctx) == nil && readErr == nil {
		return c, err
	}
	switch {
	case readErr != nil:
		return c, fmt.Errorf("read the export: %w", readErr)
	case context.Cause(ctx) != nil:
		return c, context.Cause(ctx)
	}
	return c, nil
}

// outcome is what one record added to the counts.
type outcome struct{ created, pending, skipped, tokens, expired, foreign int }

func importOne(ctx context.Context, st store.Store, led *ledger, rec Record, o Options) (_ outcome, err error) {
	var out outcome
	foreign := false
	if rec.PasswordHash != "" {
		// A hash no scheme can verify would import an account nobody can log in to.
		scheme, err := password.Identify(rec.PasswordHash)
		if err != nil {
			return out, err
		}
		foreign = scheme != password.SchemeArgon2id
	}
	id, err := token.NewID()
	if err != nil {
		return out, err
	}
	status := store.StatusActive
	if !rec.Confirmed && o.Confirms {
		status = store.StatusPending
	}
	now := o.Now()
	var live []store.LegacyToken
	for _, t := range rec.Tokens {
		if t.ExpiresAt.After(now) {
			live = append(live, t)
		} else {
			out.expired++
		}
	}
	// Checked before the user is created, so a bad token fails the line and nothing is written.
	if err := store.ValidateLegacyTokens(live, now); err != nil {
		return outcome{}, err
	}
	u := store.User{ID: id, Login: rec.Email, Email: rec.Email, FirstName: rec.FirstName, LastName: rec.LastName,
		Status: status, PasswordHash: rec.PasswordHash}
	if err := u.Validate(); err != nil {
		return outcome{}, err
	}
	if foreign {
		// Counted before the user exists, so no login ever sees a foreign hash the record
		// does not cover; handed back if the user is not created.
		if err := led.take(ctx, rec.PasswordHash); err != nil {
			return outcome{}, err
		}
		defer func() {
			if out.created == 0 {
				led.unused()
			}
		}()
	}
	switch _, err := st.CreateUser(ctx, u, now); {
	case errors.Is(err, store.ErrAlreadyExists):
		out = outcome{skipped: 1}
		return out, nil
	case err != nil:
		return outcome{}, err
	}
	out.created = 1
	if foreign {
		out.foreign = 1
	}
	if status == store.StatusPending {
		out.pending = 1
	}
	if len(live) > 0 {
		if err := st.PutLegacyTokens(ctx, id, live, now); err != nil {
			return out, fmt.Errorf("user %s created, its devise tokens not stored: %w", id, err)
		}
		out.tokens = len(live)
	}
	return out, nil
}

// reserveHashes is how many imported hashes the ledger counts in the store at a time: one
// store write per this many users, not one per user.
const reserveHashes = 256

// ledger keeps the realm's imported-hash record (store.ImportedHashes) ahead of the users an
// import creates: it reserves counts in blocks and raises a scheme's twin before the first
// user whose hash is costlier than the recorded one, so the record covers every foreign hash
// in the store at every moment; what is left of the last block is given back at the end.
type ledger struct {
	st    store.Store
	mu    sync.Mutex
	left  int64
	costs map[password.Scheme]int64
}

// take counts one foreign hash, reserving a block (with the hash's twin if it is costlier than
// its scheme's recorded one) when the reservation is used up or the twin must be raised.
func (l *ledger) take(ctx context.Context, encoded string) error {
	scheme, cost, twin, err := password.CostTwin(encoded)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var twins []store.HashTwin
	if cost > l.costs[scheme] {
		twins = []store.HashTwin{{Scheme: string(scheme), Cost: cost, Hash: twin}}
	}
	if l.left == 0 || twins != nil {
		if err := l.st.AddImportedHashes(ctx, reserveHashes, twins); err != nil {
			return err
		}
		l.left += reserveHashes
		if twins != nil {
			l.costs[scheme] = cost
		}
	}
	l.left--
	return nil
}

// unused hands one taken count back to the reservation (the user was not created).
func (l *ledger) unused() {
	l.mu.Lock()
	l.left++
	l.mu.Unlock()
}

// giveBack returns the unused reservation to the store.
func (l *ledger) giveBack(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.left == 0 {
		return nil
	}
	if err := l.st.AddImportedHashes(ctx, -l.left, nil); err != nil {
		return fmt.Errorf("give back %d unused imported-hash counts: %w", l.left, err)
	}
	l.left = 0
	return nil
}
