package password

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Foreign hashes are the formats users are imported with (latch admin import): they verify
// with their own algorithm at the user's next login, which then rehashes the password to
// argon2id (Verify reports needsRehash). They are never written. Each one's cost is decided
// by the stored string, so each parser bounds the cost before anything is computed: an
// imported hash must not be a way to make one login burn a worker for minutes.
//
//	argon2i   $argon2i$v=19$m=M,t=T,p=P$SALT$KEY    the bounds of ParsePHC
//	bcrypt    $2a$/$2b$/$2y$CC$<53 chars>          cost 4..MaxBcryptCost
//	PBKDF2    $pbkdf2-sha256$ITER$SALT$KEY          passlib: adapted base64 ('.' for '+')
//	PBKDF2    pbkdf2_sha256$ITER$SALT$B64KEY        Django: salt as text, standard base64 key
//
// PBKDF2 iterations are 1..MaxPBKDF2Iterations either way.
const (
	// MaxBcryptCost bounds an imported bcrypt hash's cost. bcrypt itself allows 31, which is
	// 2^31 rounds (a day and more of one core); 15 is about 2 s, above devise's 12 (about
	// 250 ms) and anything a site would have configured to answer a login.
	MaxBcryptCost = 15
	// MaxPBKDF2Iterations bounds an imported PBKDF2-SHA256 hash: 3 million is about 1.5 s of
	// one core and above Django's current default (1.2 million in Django 6.0).
	MaxPBKDF2Iterations = 3_000_000
	// MaxHashLen bounds any stored hash string before it is looked at.
	MaxHashLen = 256
	// bcryptMaxPassword is what bcrypt reads of a password: the rest never mattered to the
	// system that computed the hash (devise, as every bcrypt, ignores bytes past 72).
	bcryptMaxPassword = 72
)

// Scheme names a hash format.
type Scheme string

// The schemes Verify accepts. Only SchemeArgon2id is written.
const (
	SchemeArgon2id     Scheme = "argon2id"
	SchemeArgon2i      Scheme = "argon2i"
	SchemeBcrypt       Scheme = "bcrypt"
	SchemePBKDF2       Scheme = "pbkdf2-sha256"
	SchemeDjangoPBKDF2 Scheme = "django-pbkdf2-sha256"
)

// Identify parses encoded, within the bounds of its scheme, and names its scheme; anything
// else is ErrMalformedHash. An importer calls it to refuse a user whose hash could never
// verify, instead of importing an account nobody can log in to.
func Identify(encoded string) (Scheme, error) {
	if strings.HasPrefix(encoded, "$argon2id$") {
		if _, err := ParsePHC(encoded); err != nil {
			return "", err
		}
		return SchemeArgon2id, nil
	}
	f, err := parseForeign(encoded)
	if err != nil {
		return "", err
	}
	return f.scheme, nil
}

// foreign is a parsed hash of a format this package verifies but does not write.
type foreign struct {
	scheme Scheme
	// match recomputes the hash of password and compares it in constant time.
	match func(password []byte) bool
	// cost orders hashes of one scheme by their work (CostTwin).
	cost int64
	// twin renders a hash of a random secret with the same scheme and parameters (CostTwin).
	twin func() string
}

func parseForeign(s string) (foreign, error) {
	if len(s) > MaxHashLen {
		return foreign{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformedHash, MaxHashLen)
	}
	switch {
	case strings.HasPrefix(s, "$argon2i$"):
		return parseArgon2i(s)
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return parseBcrypt(s)
	case strings.HasPrefix(s, "$pbkdf2-sha256$"):
		return parsePasslibPBKDF2(s)
	case strings.HasPrefix(s, "pbkdf2_sha256$"):
		return parseDjangoPBKDF2(s)
	}
	return foreign{}, fmt.Errorf("%w: unknown hash format", ErrMalformedHash)
}

// parseArgon2i reads argon2i with ParsePHC's grammar and bounds (argon2id's, but for the name).
func parseArgon2i(s string) (foreign, error) {
	h, err := ParsePHC("$argon2id$" + strings.TrimPrefix(s, "$argon2i$"))
	if err != nil {
		return foreign{}, err
	}
	p := h.Params
	return foreign{scheme: SchemeArgon2i, match: func(pw []byte) bool {
		key := argon2.Key(pw, h.Salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(h.Key)))
		return subtle.ConstantTimeCompare(key, h.Key) == 1
	}, cost: int64(p.MemoryKiB) * int64(p.Iterations) * int64(p.Parallelism), twin: func() string { return argon2iTwin(h) }}, nil
}

// parseBcrypt checks the modular crypt layout `$2x$CC$` + 22 chars of salt + 31 of hash in
// bcrypt's own base64 alphabet, and the cost bound; x/crypto does the rest.
func parseBcrypt(s string) (foreign, error) {
	if len(s) != 60 || s[3] != '$' || s[6] != '$' {
		return foreign{}, fmt.Errorf("%w: bcrypt hash must be $2a$CC$ and 53 characters", ErrMalformedHash)
	}
	cost, err := strconv.Atoi(s[4:6])
	if err != nil || s[4] < '0' || s[4] > '9' || cost < bcrypt.MinCost || cost > MaxBcryptCost {
		return foreign{}, fmt.Errorf("%w: bcrypt cost must be %d to %d", ErrMalformedHash, bcrypt.MinCost, MaxBcryptCost)
	}
	for i := 7; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '/') {
			return foreign{}, fmt.Errorf("%w: bcrypt salt and hash are not bcrypt base64", ErrMalformedHash)
		}
	}
	hash := []byte(s)
	return foreign{scheme: SchemeBcrypt, match: func(pw []byte) bool {
		// x/crypto compares in constant time; its verdict on a malformed hash is "no".
		return bcrypt.CompareHashAndPassword(hash, pw[:min(len(pw), bcryptMaxPassword)]) == nil
	}, cost: int64(cost), twin: func() string { return bcryptTwin(s) }}, nil
}

// ab64 is passlib's "adapted base64": the standard alphabet with '.' for '+', no padding.
var ab64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./").WithPadding(base64.NoPadding).Strict()

// parsePasslibPBKDF2 reads passlib's `$pbkdf2-sha256$ITER$SALT$KEY`.
func parsePasslibPBKDF2(s string) (foreign, error) {
	f := strings.Split(s, "$")
	if len(f) != 5 || f[0] != "" {
		return foreign{}, fmt.Errorf("%w: want $pbkdf2-sha256$ITER$SALT$KEY", ErrMalformedHash)
	}
	iter, err := parseIterations(f[2])
	if err != nil {
		return foreign{}, err
	}
	salt, err := ab64.DecodeString(f[3])
	if err != nil || len(salt) == 0 || len(salt) > 64 {
		return foreign{}, fmt.Errorf("%w: pbkdf2-sha256 salt is not 1 to 64 bytes of adapted base64", ErrMalformedHash)
	}
	key, err := ab64.DecodeString(f[4])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return foreign{}, fmt.Errorf("%w: pbkdf2-sha256 key is not %d to %d bytes of adapted base64", ErrMalformedHash, minKeyLen, maxKeyLen)
	}
	v := pbkdf2Verifier(SchemePBKDF2, salt, iter, key)
	v.twin = func() string { return passlibPBKDF2Twin(iter, len(salt), len(key)) }
	return v, nil
}

// parseDjangoPBKDF2 reads Django's `pbkdf2_sha256$ITER$SALT$B64KEY`: the salt is used as its
// text, the key is standard padded base64.
func parseDjangoPBKDF2(s string) (foreign, error) {
	f := strings.Split(s, "$")
	if len(f) != 4 {
		return foreign{}, fmt.Errorf("%w: want pbkdf2_sha256$ITER$SALT$KEY", ErrMalformedHash)
	}
	iter, err := parseIterations(f[1])
	if err != nil {
		return foreign{}, err
	}
	if len(f[2]) == 0 || len(f[2]) > 128 {
		return foreign{}, fmt.Errorf("%w: pbkdf2_sha256 salt must be 1 to 128 bytes", ErrMalformedHash)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(f[3])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return foreign{}, fmt.Errorf("%w: pbkdf2_sha256 key is not %d to %d bytes of base64", ErrMalformedHash, minKeyLen, maxKeyLen)
	}
	v := pbkdf2Verifier(SchemeDjangoPBKDF2, []byte(f[2]), iter, key)
	v.twin = func() string { return djangoPBKDF2Twin(iter, len(f[2]), len(key)) }
	return v, nil
}

func parseIterations(s string) (int, error) {
	if s == "" || len(s) > 7 || s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%w: PBKDF2 iterations are not a canonical decimal", ErrMalformedHash)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxPBKDF2Iterations {
		return 0, fmt.Errorf("%w: PBKDF2 iterations must be 1 to %d", ErrMalformedHash, MaxPBKDF2Iterations)
	}
	return n, nil
}

func pbkdf2Verifier(scheme Scheme, salt []byte, iter int, key []byte) foreign {
	return foreign{scheme: scheme, match: func(pw []byte) bool {
		// crypto/pbkdf2 refuses a password FIPS mode would not take; that is a mismatch.
		got, err := pbkdf2.Key(sha256.New, string(pw), salt, iter, len(key))
		return err == nil && subtle.ConstantTimeCompare(got, key) == 1
	}, cost: int64(iter)}
}
