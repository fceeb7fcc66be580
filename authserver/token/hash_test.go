package token

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/latchauth/latch/authserver/config"
)

const (
	testKey    = "0123456789abcdef0123456789abcdef"
	zeroSecret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)

func newTestHasher(t *testing.T, key string) *Hasher {
	t.Helper()
	h, err := NewHasher([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// The expected values were computed independently (Python's hmac module), so they pin the
// stored format: a change here would orphan every stored hash.
func TestHashAndSuccessorKnownAnswers(t *testing.T) {
	h := newTestHasher(t, testKey)
	if got, want := h.Hash(zeroSecret), "lPHfNAAgCq327wdNM4pJ7LbYsTxs0K_PtOgwHFJnf94"; got != want {
		t.Errorf("Hash = %s, want %s", got, want)
	}
	if got, want := h.Successor(zeroSecret), "jKxW2bCgmzfgb_MQITXTuHBwt4Q6svJjakFLjJKD97A"; got != want {
		t.Errorf("Successor = %s, want %s", got, want)
	}
}

func TestHashProperties(t *testing.T) {
	h := newTestHasher(t, testKey)
	other := newTestHasher(t, strings.Repeat("k", 32))
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	hs := h.Hash(s)
	if len(hs) != HashLen {
		t.Errorf("len(Hash) = %d, want %d", len(hs), HashLen)
	}
	if hs != h.Hash(s) {
		t.Error("Hash is not deterministic")
	}
	if hs == other.Hash(s) {
		t.Error("Hash does not depend on the key")
	}
	next := h.Successor(s)
	if !ValidSecret(next) {
		t.Errorf("Successor(%q) = %q is not a valid secret", s, next)
	}
	if next == s || h.Hash(next) == hs || next == hs {
		t.Error("Successor must differ from the secret and from its hash")
	}
	if next != h.Successor(s) {
		t.Error("Successor is not deterministic")
	}
	if h.Successor(next) == next {
		t.Error("the successor chain must not be stuck")
	}
}

func TestHasherConcurrentUse(t *testing.T) {
	h := newTestHasher(t, testKey)
	want := h.Hash(zeroSecret)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if got := h.Hash(zeroSecret); got != want {
					t.Errorf("concurrent Hash = %s, want %s", got, want)
					return
				}
				h.Successor(zeroSecret)
			}
		})
	}
	wg.Wait()
}

func TestNewHasherRefusesShortKey(t *testing.T) {
	for _, n := range []int{0, 1, 31} {
		_, err := NewHasher(make([]byte, n))
		if !errors.Is(err, ErrShortKey) {
			t.Errorf("NewHasher(%d bytes) error = %v, want ErrShortKey", n, err)
		}
	}
	if _, err := NewHasher(make([]byte, 32)); err != nil {
		t.Errorf("NewHasher(32 bytes) = %v", err)
	}
}

func TestNewHasherCopiesKey(t *testing.T) {
	key := []byte(testKey)
	h, err := NewHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	want := h.Hash(zeroSecret)
	key[0] ^= 0xff
	if got := h.Hash(zeroSecret); got != want {
		t.Error("changing the caller's key slice changed the hasher")
	}
}

func TestNewHasherFromConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte(testKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LATCH_TEST_TOKEN_KEY", testKey)

	h, err := NewHasherFromConfig(config.Secret{File: good})
	if err != nil {
		t.Fatalf("from file: %v", err)
	}
	// The trailing newline is trimmed, so the file and the env variable give the same key.
	if got, want := h.Hash(zeroSecret), "lPHfNAAgCq327wdNM4pJ7LbYsTxs0K_PtOgwHFJnf94"; got != want {
		t.Errorf("key from file: Hash = %s, want %s", got, want)
	}
	h, err = NewHasherFromConfig(config.Secret{Env: "LATCH_TEST_TOKEN_KEY"})
	if err != nil {
		t.Fatalf("from env: %v", err)
	}
	if got, want := h.Hash(zeroSecret), "lPHfNAAgCq327wdNM4pJ7LbYsTxs0K_PtOgwHFJnf94"; got != want {
		t.Errorf("key from env: Hash = %s, want %s", got, want)
	}

	for name, s := range map[string]config.Secret{
		"short file": {File: short},
		"unset":      {},
	} {
		_, err := NewHasherFromConfig(s)
		if !errors.Is(err, ErrShortKey) || !strings.Contains(err.Error(), "tokenHashKey") {
			t.Errorf("%s: error = %v, want ErrShortKey naming tokenHashKey", name, err)
		}
	}
	if _, err := NewHasherFromConfig(config.Secret{File: filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing file: no error")
	}
	if _, err := NewHasherFromConfig(config.Secret{Env: "LATCH_TEST_TOKEN_KEY_UNSET"}); err == nil {
		t.Error("unset env variable: no error")
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"", "a", false},
	}
	for _, tt := range tests {
		if got := Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	h, err := NewHasher([]byte(testKey))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Hash(zeroSecret)
	}
}
