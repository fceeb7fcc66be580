package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/latchauth/latch/authserver/config"
)

// MinKeyLen is the shortest accepted HMAC key: as long as the SHA-256 output, so the key is
// never the weaker half of the construction.
const MinKeyLen = 32

// HashLen is the length of a hash returned by Hasher.Hash: base64url of a SHA-256 MAC.
const HashLen = 43

// ErrShortKey is returned for a token hash key shorter than MinKeyLen bytes.
var ErrShortKey = errors.New("token hash key is too short")

// rotatePrefix separates successor derivation from plain hashing. A secret is base64url and so
// never contains ':', which keeps Hash(x) and Successor(y) from ever computing the same MAC.
const rotatePrefix = "rotate:"

// Hasher computes keyed hashes of secrets. Only these hashes are stored, so a copy of Redis
// without the key neither authenticates anyone nor lets secrets be brute-forced offline.
// A Hasher is safe for concurrent use.
type Hasher struct {
	// macs pools HMAC states: hmac.New allocates and hashes the padded key twice, and every
	// authenticated request computes one or two MACs.
	macs sync.Pool
}

// NewHasher returns a Hasher keyed with key, which must hold at least MinKeyLen bytes. The key
// is copied.
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("%w: got %d bytes, need at least %d", ErrShortKey, len(key), MinKeyLen)
	}
	k := append([]byte(nil), key...)
	h := &Hasher{}
	h.macs.New = func() any { return hmac.New(sha256.New, k) }
	return h, nil
}

// NewHasherFromConfig reads the key from the config's tokenHashKey secret. The key is used as
// the bytes of the secret's value (surrounding whitespace trimmed by config.Secret.Read), so a
// value from `openssl rand -base64 48` or a random 64-character string both work.
func NewHasherFromConfig(key config.Secret) (*Hasher, error) {
	if !key.IsSet() {
		return nil, fmt.Errorf("tokenHashKey: %w: no file or env variable is configured", ErrShortKey)
	}
	v, err := key.Read()
	if err != nil {
		return nil, fmt.Errorf("tokenHashKey: %w", err)
	}
	h, err := NewHasher([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("tokenHashKey: %w", err)
	}
	return h, nil
}

// Hash returns base64url(HMAC-SHA256(key, secret)) without padding, HashLen characters. It is
// the value stored for a secret and the value Lua scripts compare, so it must never change
// encoding: base64url matches the encoding of the secrets themselves and keeps keys short.
func (h *Hasher) Hash(secret string) string { return h.mac("", secret) }

// Successor returns base64url(HMAC-SHA256(key, "rotate:"+secret)) without padding: the token
// that replaces secret on rotation (DESIGN.md). Being a function of the presented secret, it
// lets racing requests all be answered with the same current token without storing it.
// The result is itself a valid secret (SecretLen characters).
func (h *Hasher) Successor(secret string) string { return h.mac(rotatePrefix, secret) }

func (h *Hasher) mac(prefix, secret string) string {
	m := h.macs.Get().(hash.Hash)
	defer h.macs.Put(m)
	m.Reset()
	m.Write([]byte(prefix))
	m.Write([]byte(secret))
	var sum [sha256.Size]byte
	return enc.EncodeToString(m.Sum(sum[:0]))
}

// Equal reports whether a and b are equal, in time that depends only on their lengths. Use it
// for every comparison of a secret or a hash of one; lengths are public (every secret and hash
// has a fixed length), contents are not.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
