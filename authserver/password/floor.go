package password

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A failed login must take as long whether or not the login exists. With argon2id alone that
// holds by construction: an unknown login is checked against the pool's dummy hash, which costs
// what a user's hash costs. Imported users break it: until their first login rehashes it, their
// hash is bcrypt or PBKDF2 at the old system's cost, and "wrong password" for them takes that
// scheme's time, which is not the dummy's. So while a realm holds imported hashes, every failed
// check is held back until it has taken as long as the costliest imported scheme would
// (a Floor), and the holding back is a sleep after the worker is released, not more hashing.
//
// The floor is kept as a ratio to the time of one argon2id check with the current parameters,
// and applied to a running average of that time, so it follows the machine's load as the
// checks it hides do: a loaded node slows bcrypt and argon2id alike.

// Floor is the least time a failed check takes, in argon2id checks with the pool's current
// parameters; 0 or less means no floor.
type Floor float64

// FloorFunc tells a check that has just failed which Floor it must meet (a login reads it
// from the store, which costs a round trip: only failures pay it). nil means no floor.
type FloorFunc func(context.Context) (Floor, error)

// CostTwin returns a hash of a random secret with encoded's foreign scheme and exactly its cost
// parameters, and the cost that orders hashes of that scheme (bcrypt's cost, PBKDF2's
// iterations, argon2i's memory times passes times lanes): checking a password against the twin
// costs what checking against encoded does, and nothing in it is a copy of encoded. argon2id is
// not foreign (ErrMalformedHash, like anything Verify would refuse).
func CostTwin(encoded string) (scheme Scheme, cost int64, twin string, err error) {
	f, err := parseForeign(encoded)
	if err != nil {
		return "", 0, "", err
	}
	return f.scheme, f.cost, f.twin(), nil
}

// randomBytes returns n bytes from crypto/rand, which never fails on supported platforms.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// bcryptAlphabet is bcrypt's base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func bcryptTwin(s string) string {
	b := []byte(s[:7])
	for _, r := range randomBytes(53) {
		b = append(b, bcryptAlphabet[int(r)%len(bcryptAlphabet)])
	}
	return string(b)
}

func passlibPBKDF2Twin(iter, saltLen, keyLen int) string {
	return "$pbkdf2-sha256$" + strconv.Itoa(iter) + "$" + ab64.EncodeToString(randomBytes(saltLen)) + "$" + ab64.EncodeToString(randomBytes(keyLen))
}

func djangoPBKDF2Twin(iter, saltLen, keyLen int) string {
	salt := base64.RawURLEncoding.EncodeToString(randomBytes(saltLen))[:saltLen]
	return "pbkdf2_sha256$" + strconv.Itoa(iter) + "$" + salt + "$" + base64.StdEncoding.EncodeToString(randomBytes(keyLen))
}

func argon2iTwin(h PHC) string {
	h.Salt, h.Key = randomBytes(len(h.Salt)), randomBytes(len(h.Key))
	return "$argon2i$" + strings.TrimPrefix(h.String(), "$argon2id$")
}

// floors measures and remembers twins' costs and the running argon2id time they are scaled by.
type floors struct {
	// argonNanos is an exponentially weighted average of one argon2id computation with the
	// current parameters, in nanoseconds, fed by every one the pool runs.
	argonNanos atomic.Int64

	mu sync.Mutex
	// ratios holds, per scheme and cost seen in a twin, what one check costs in argon2id
	// checks: measured when the twin is first seen, then averaged with every real check of
	// that scheme and cost, so the floor follows what the hidden checks actually take.
	ratios map[costKey]Floor
}

type costKey struct {
	scheme Scheme
	cost   int64
}

// ewma moves avg an eighth of the way to x: the weight of one observation in every average
// here, enough to follow a change of load within tens of checks, not one odd check.
func ewma(avg, x float64) float64 {
	if avg <= 0 {
		return x
	}
	return avg + (x-avg)/8
}

// observeArgon feeds one argon2id computation's time to the running average.
func (f *floors) observeArgon(d time.Duration) {
	for {
		old := f.argonNanos.Load()
		if f.argonNanos.CompareAndSwap(old, int64(ewma(float64(old), float64(d)))) {
			return
		}
	}
}

// observeForeign feeds one check of a foreign hash to its scheme and cost's ratio, if a twin
// of that scheme and cost is in use: the real imported hashes keep the floor calibrated.
func (f *floors) observeForeign(k costKey, d time.Duration) {
	argon := f.argonNanos.Load()
	if argon <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.ratios[k]; ok {
		f.ratios[k] = Floor(ewma(float64(r), float64(d)/float64(argon)))
	}
}

// duration converts a floor to time with the current running average.
func (f *floors) duration(fl Floor) time.Duration {
	if fl <= 0 {
		return 0
	}
	return time.Duration(float64(fl) * float64(f.argonNanos.Load()))
}

// calibrationRounds is how many back-to-back pairs measure a new twin; the median is kept.
const calibrationRounds = 3

// FloorOf returns the floor that makes a failed check cost what a check against the costliest
// of twins costs. A scheme and cost not seen before is measured here, in the pool: an argon2id
// check against the dummy hash and one against the twin, back to back on one worker, so their
// ratio holds whatever the load (the median of three such pairs); from then on every real check
// of that scheme and cost refines it. A twin that is not a foreign hash adds nothing (the store
// checked what it was given; a corrupt record must not stop every login). Errors are ErrBusy
// or ctx's error.
func (p *Pool) FloorOf(ctx context.Context, twins []string) (Floor, error) {
	var worst Floor
	for _, twin := range twins {
		f, err := parseForeign(twin)
		if err != nil {
			continue
		}
		k := costKey{f.scheme, f.cost}
		p.floors.mu.Lock()
		r, ok := p.floors.ratios[k]
		p.floors.mu.Unlock()
		if !ok {
			if r, err = p.calibrate(ctx, f); err != nil {
				return 0, err
			}
			p.floors.mu.Lock()
			if p.floors.ratios == nil {
				p.floors.ratios = map[costKey]Floor{}
			}
			p.floors.ratios[k] = r
			p.floors.mu.Unlock()
		}
		worst = max(worst, r)
	}
	return worst, nil
}

// calibrate measures f's cost in argon2id checks.
func (p *Pool) calibrate(ctx context.Context, f foreign) (Floor, error) {
	secret := string(randomBytes(32))
	var ratios []float64
	if qerr := p.run(ctx, func() {
		for range calibrationRounds {
			began := time.Now()
			_, _ = verify(p.kdf, secret, p.dummy, p.params)
			argon := time.Since(began)
			f.match([]byte(secret))
			ratios = append(ratios, float64(time.Since(began)-argon)/float64(max(argon, time.Microsecond)))
			p.floors.observeArgon(argon)
		}
	}); qerr != nil {
		return 0, qerr
	}
	slices.Sort(ratios)
	return Floor(ratios[len(ratios)/2]), nil
}

// holdBack asks floor, on a check that began computing at began and failed, and sleeps until
// the check has taken that floor's time or ctx ends (a client that has gone learns nothing from
// the wait). It returns ErrMismatch, or floor's error.
func (p *Pool) holdBack(ctx context.Context, began time.Time, floor FloorFunc) error {
	if floor == nil {
		return ErrMismatch
	}
	fl, err := floor(ctx)
	if err != nil {
		return err
	}
	wait := p.floors.duration(fl) - time.Since(began)
	if wait <= 0 {
		return ErrMismatch
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return ErrMismatch
}

// String describes a floor for logs and errors.
func (fl Floor) String() string { return fmt.Sprintf("%.2f argon2id checks", float64(fl)) }
