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
				out, err := importOne(ctx, st, rec, o)
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
	switch {
	case readErr != nil:
		return c, fmt.Errorf("read the export: %w", readErr)
	case context.Cause(ctx) != nil:
		return c, context.Cause(ctx)
	}
	return c, nil
}

// outcome is what one record added to the counts.
type outcome struct{ created, pending, skipped, tokens, expired int }

func importOne(ctx context.Context, st store.Store, rec Record, o Options) (outcome, error) {
	var out outcome
	if rec.PasswordHash != "" {
		// A hash no scheme can verify would import an account nobody can log in to.
		if _, err := password.Identify(rec.PasswordHash); err != nil {
			return out, err
		}
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
	switch _, err := st.CreateUser(ctx, u, now); {
	case errors.Is(err, store.ErrAlreadyExists):
		return outcome{skipped: 1}, nil
	case err != nil:
		return outcome{}, err
	}
	out.created = 1
	if status == store.StatusPending {
		out.pending = 1
	}
	if len(live) > 0 {
		if err := st.PutLegacyTokens(ctx, id, live, now); err != nil {
			return outcome{}, fmt.Errorf("user %s created, its devise tokens not stored: %w", id, err)
		}
		out.tokens = len(live)
	}
	return out, nil
}
