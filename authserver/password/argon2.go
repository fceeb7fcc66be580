package password

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/latchauth/latch/authserver/config"
)

// ErrMismatch is returned when a password does not match its hash.
var ErrMismatch = errors.New("password does not match")

// kdf is argon2.IDKey's signature; the pool takes one so tests can observe the computations.
type kdf func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte

// Hash returns the argon2id PHC string of password with a fresh SaltLen-byte salt and params.
// It does no policy check and no queueing: servers use Pool.Hash.
func Hash(password string, params config.Argon2) (string, error) {
	return hash(argon2.IDKey, password, params)
}

func hash(f kdf, password string, params config.Argon2) (string, error) {
	if err := checkParams(params); err != nil {
		return "", fmt.Errorf("argon2id: %w", err)
	}
	salt := make([]byte, SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("argon2id: read salt: %w", err)
	}
	key := f([]byte(password), salt, params.Iterations, params.MemoryKiB, params.Parallelism, KeyLen)
	return PHC{Params: params, Salt: salt, Key: key}.String(), nil
}

// Verify checks password against an encoded hash, recomputing it with the hash's own stored
// parameters. On a match it reports whether the hash should be replaced (its parameters or
// sizes differ from current), so parameter upgrades roll out as users log in. A wrong password
// gives ErrMismatch; a hash that does not parse gives ErrMalformedHash.
//
// A foreign scheme (foreign.go) is verified too, and always needs a rehash.
func Verify(password, encoded string, current config.Argon2) (needsRehash bool, err error) {
	if !strings.HasPrefix(encoded, "$argon2id$") {
		f, err := parseForeign(encoded)
		if err != nil {
			return false, err
		}
		if len(password) > MaxVerifyLen || !f.match([]byte(password)) {
			return false, ErrMismatch
		}
		return true, nil
	}
	h, err := ParsePHC(encoded)
	if err != nil {
		return false, err
	}
	return verify(argon2.IDKey, password, h, current)
}

func verify(f kdf, password string, h PHC, current config.Argon2) (bool, error) {
	p := h.Params
	key := f([]byte(password), h.Salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(h.Key)))
	if subtle.ConstantTimeCompare(key, h.Key) != 1 {
		return false, ErrMismatch
	}
	return p != current || len(h.Salt) != SaltLen || len(h.Key) != KeyLen, nil
}
