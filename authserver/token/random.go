package token

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

const (
	// SecretBytes is the entropy of every secret (DESIGN.md: 256 bits).
	SecretBytes = 32
	// SecretLen is the length of an encoded secret: base64url of SecretBytes, no padding.
	SecretLen = 43
	// IDBytes is the entropy of user and session IDs.
	IDBytes = 16
	// IDLen is the length of an encoded ID: base64url of IDBytes, no padding.
	IDLen = 22
)

// enc is the one encoding every ID, secret and hash uses. Strict rejects encodings whose unused
// trailing bits are not zero, so each value has exactly one spelling and string equality of
// encodings is equality of bytes.
var enc = base64.RawURLEncoding.Strict()

// New returns a fresh secret: SecretBytes from crypto/rand, base64url without padding.
func New() (string, error) { return random(SecretBytes) }

// NewID returns a fresh user or session ID: IDBytes from crypto/rand, base64url without padding.
func NewID() (string, error) { return random(IDBytes) }

func random(n int) (string, error) {
	b := make([]byte, n)
	// crypto/rand.Read never fails on supported platforms (it panics instead), but the error is
	// kept in the signature so callers treat minting as fallible and never use an empty value.
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: read random bytes: %w", err)
	}
	return enc.EncodeToString(b), nil
}

// ValidSecret reports whether s is the canonical encoding of SecretBytes bytes.
func ValidSecret(s string) bool { return canonical(s, SecretLen, SecretBytes) }

// ValidID reports whether s is the canonical encoding of IDBytes bytes.
func ValidID(s string) bool { return canonical(s, IDLen, IDBytes) }

// canonical checks the length first so that no attacker-sized input reaches the decoder, then
// the alphabet, then that the trailing bits are zero (via the strict decoder).
func canonical(s string, encodedLen, rawLen int) bool {
	if len(s) != encodedLen || !isBase64URL(s) {
		return false
	}
	var buf [SecretBytes]byte
	n, err := enc.Decode(buf[:], []byte(s))
	return err == nil && n == rawLen
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isBase64URLByte(s[i]) {
			return false
		}
	}
	return true
}

func isBase64URLByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
