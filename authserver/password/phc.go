package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/latchauth/latch/authserver/config"
)

// The sizes this package writes. Parsing accepts a range around them so hashes from other
// argon2id implementations can be verified (and then rehashed to these sizes on login).
const (
	SaltLen = 16
	KeyLen  = 32
)

// Bounds on what ParsePHC accepts. A stored hash decides how much memory and time its
// verification costs, so an absurd one (a corrupt record, a bad import) must fail to parse
// rather than take the server down. The bounds sit well above any sensible setting: RFC 9106's
// largest recommended memory is 2 GiB, OWASP's baselines use t ≤ 5 and p = 1.
const (
	MaxMemoryKiB   = 2 << 20 // 2 GiB
	MaxIterations  = 100
	MaxParallelism = 64
	minSaltLen     = 8 // RFC 9106's minimum
	maxSaltLen     = 64
	minKeyLen      = 16
	maxKeyLen      = 64
	// MaxPHCLen is longer than any string within the bounds above (about 230 bytes).
	MaxPHCLen = 256
)

// ErrMalformedHash is returned, wrapped, for a stored hash that is not an argon2id PHC string
// within this package's bounds.
var ErrMalformedHash = errors.New("malformed password hash")

// b64 is the PHC format's base64: standard alphabet, no padding. Strict refuses non-zero
// trailing bits, so every hash has exactly one spelling.
var b64 = base64.RawStdEncoding.Strict()

// PHC is a parsed argon2id hash: `$argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>$<salt>$<key>`.
type PHC struct {
	Params config.Argon2
	Salt   []byte
	Key    []byte
}

// String formats the hash in PHC string format.
func (h PHC) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argonVersion,
		h.Params.MemoryKiB, h.Params.Iterations, h.Params.Parallelism,
		b64.EncodeToString(h.Salt), b64.EncodeToString(h.Key))
}

// argonVersion is argon2 version 1.3, the only one x/crypto computes.
const argonVersion = 19

// ParsePHC parses an argon2id PHC string strictly: exact field order, canonical decimals,
// canonical base64, no optional fields, and every value within this package's bounds. It never
// panics and never allocates more than the input's size.
func ParsePHC(s string) (PHC, error) {
	var h PHC
	if len(s) > MaxPHCLen {
		return h, fmt.Errorf("%w: longer than %d bytes", ErrMalformedHash, MaxPHCLen)
	}
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	fields := strings.Split(s, "$")
	if len(fields) != 6 || fields[0] != "" {
		return h, fmt.Errorf("%w: want $argon2id$v=19$m=M,t=T,p=P$SALT$KEY", ErrMalformedHash)
	}
	if fields[1] != "argon2id" {
		return h, fmt.Errorf("%w: algorithm is not argon2id", ErrMalformedHash)
	}
	if fields[2] != "v=19" {
		return h, fmt.Errorf("%w: version is not 19", ErrMalformedHash)
	}
	params, err := parseParams(fields[3])
	if err != nil {
		return h, err
	}
	salt, err := decode(fields[4], "salt", minSaltLen, maxSaltLen)
	if err != nil {
		return h, err
	}
	key, err := decode(fields[5], "key", minKeyLen, maxKeyLen)
	if err != nil {
		return h, err
	}
	return PHC{Params: params, Salt: salt, Key: key}, nil
}

func parseParams(s string) (config.Argon2, error) {
	var p config.Argon2
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return p, fmt.Errorf("%w: parameters must be m=M,t=T,p=P", ErrMalformedHash)
	}
	m, err := parseParam(parts[0], "m", 1, MaxMemoryKiB)
	if err != nil {
		return p, err
	}
	t, err := parseParam(parts[1], "t", 1, MaxIterations)
	if err != nil {
		return p, err
	}
	l, err := parseParam(parts[2], "p", 1, MaxParallelism)
	if err != nil {
		return p, err
	}
	p = config.Argon2{MemoryKiB: m, Iterations: t, Parallelism: uint8(l)}
	if err := checkParams(p); err != nil {
		return p, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return p, nil
}

// parseParam reads "name=decimal" with no sign, no leading zero and no more digits than the
// bound needs, so overflow cannot happen and each value has one spelling.
func parseParam(s, name string, lo, hi uint32) (uint32, error) {
	digits, ok := strings.CutPrefix(s, name+"=")
	if !ok {
		return 0, fmt.Errorf("%w: expected parameter %s", ErrMalformedHash, name)
	}
	if digits == "" || len(digits) > 10 || digits[0] == '0' {
		return 0, fmt.Errorf("%w: parameter %s is not a canonical decimal", ErrMalformedHash, name)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("%w: parameter %s is not a canonical decimal", ErrMalformedHash, name)
		}
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || v < uint64(lo) || v > uint64(hi) {
		return 0, fmt.Errorf("%w: parameter %s must be between %d and %d", ErrMalformedHash, name, lo, hi)
	}
	return uint32(v), nil
}

func decode(s, what string, lo, hi int) ([]byte, error) {
	if len(s) < b64.EncodedLen(lo) || len(s) > b64.EncodedLen(hi) {
		return nil, fmt.Errorf("%w: %s must be %d to %d bytes", ErrMalformedHash, what, lo, hi)
	}
	// The decoder skips '\r' and '\n' wherever they are; checking the alphabet first keeps
	// the encoding canonical.
	for i := 0; i < len(s); i++ {
		if !isBase64Std(s[i]) {
			return nil, fmt.Errorf("%w: %s is not canonical unpadded base64", ErrMalformedHash, what)
		}
	}
	b, err := b64.DecodeString(s)
	if err != nil || len(b) < lo || len(b) > hi {
		return nil, fmt.Errorf("%w: %s is not canonical unpadded base64", ErrMalformedHash, what)
	}
	return b, nil
}

// checkParams holds the rules shared by stored and configured parameters. argon2 needs 8 KiB
// per lane; x/crypto would silently raise a smaller memory, making the stored parameters lie.
func checkParams(p config.Argon2) error {
	switch {
	case p.Iterations < 1 || p.Iterations > MaxIterations:
		return fmt.Errorf("iterations must be between 1 and %d, got %d", MaxIterations, p.Iterations)
	case p.Parallelism < 1 || p.Parallelism > MaxParallelism:
		return fmt.Errorf("parallelism must be between 1 and %d, got %d", MaxParallelism, p.Parallelism)
	case p.MemoryKiB < 8*uint32(p.Parallelism) || p.MemoryKiB > MaxMemoryKiB:
		return fmt.Errorf("memoryKiB must be between 8 per lane (%d) and %d, got %d",
			8*uint32(p.Parallelism), MaxMemoryKiB, p.MemoryKiB)
	}
	return nil
}

func isBase64Std(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}
