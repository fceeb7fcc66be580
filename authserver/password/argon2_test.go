package password

import (
	"errors"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
)

// fast keeps tests quick; the defaults are measured by BenchmarkHashDefault.
var fast = config.Argon2{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

func defaults() config.Passwords {
	var c config.Config
	c.Default()
	return c.Passwords
}

func TestVerifyReferenceHashes(t *testing.T) {
	current := config.Argon2{MemoryKiB: 1024, Iterations: 2, Parallelism: 1}
	rehash, err := Verify("password", refHash, current)
	if err != nil {
		t.Fatalf("Verify(reference) = %v", err)
	}
	if rehash {
		t.Error("a hash with the current parameters and sizes should not need a rehash")
	}
	if _, err := Verify("Password", refHash, current); !errors.Is(err, ErrMismatch) {
		t.Errorf("wrong password: %v, want ErrMismatch", err)
	}
	// p=2, an 8-byte salt and a 24-byte key: verified with the stored parameters, and flagged
	// for rehashing because every one of them differs from what Hash writes.
	rehash, err = Verify("password", refHashOther, current)
	if err != nil {
		t.Fatalf("Verify(reference p=2) = %v", err)
	}
	if !rehash {
		t.Error("a hash with other parameters should need a rehash")
	}
}

func TestHashThenVerify(t *testing.T) {
	enc, err := Hash("correct horse battery staple", fast)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParsePHC(enc)
	if err != nil {
		t.Fatalf("Hash output does not parse: %v", err)
	}
	if h.Params != fast || len(h.Salt) != SaltLen || len(h.Key) != KeyLen {
		t.Errorf("Hash wrote %+v with %d-byte salt, %d-byte key", h.Params, len(h.Salt), len(h.Key))
	}
	if rehash, err := Verify("correct horse battery staple", enc, fast); err != nil || rehash {
		t.Errorf("Verify = %v, %v; want false, nil", rehash, err)
	}
	if _, err := Verify("correct horse battery stapl", enc, fast); !errors.Is(err, ErrMismatch) {
		t.Errorf("wrong password: %v, want ErrMismatch", err)
	}
	again, err := Hash("correct horse battery staple", fast)
	if err != nil {
		t.Fatal(err)
	}
	if again == enc {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestVerifyReportsRehash(t *testing.T) {
	enc, err := Hash("pw", fast)
	if err != nil {
		t.Fatal(err)
	}
	for name, current := range map[string]config.Argon2{
		"memory":      {MemoryKiB: 128, Iterations: 1, Parallelism: 1},
		"iterations":  {MemoryKiB: 64, Iterations: 2, Parallelism: 1},
		"parallelism": {MemoryKiB: 64, Iterations: 1, Parallelism: 2},
	} {
		rehash, err := Verify("pw", enc, current)
		if err != nil || !rehash {
			t.Errorf("%s changed: Verify = %v, %v; want true, nil", name, rehash, err)
		}
	}
}

func TestHashRefusesBadParams(t *testing.T) {
	for _, p := range []config.Argon2{
		{MemoryKiB: 64, Iterations: 0, Parallelism: 1},
		{MemoryKiB: 64, Iterations: 1, Parallelism: 0},
		{MemoryKiB: 7, Iterations: 1, Parallelism: 1},
		{MemoryKiB: MaxMemoryKiB + 1, Iterations: 1, Parallelism: 1},
	} {
		if _, err := Hash("pw", p); err == nil {
			t.Errorf("Hash with %+v: no error", p)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	if _, err := Verify("pw", "plaintext", fast); !errors.Is(err, ErrMalformedHash) {
		t.Errorf("Verify(malformed) = %v, want ErrMalformedHash", err)
	}
	if _, err := Verify("pw", strings.Replace(refHash, "t=2", "t=0", 1), fast); !errors.Is(err, ErrMalformedHash) {
		t.Errorf("Verify(t=0) = %v, want ErrMalformedHash", err)
	}
}

// BenchmarkHashDefault measures one hash with the defaults (m=19 MiB, t=2, p=1): the cost of a
// login and the ceiling of logins per second per core.
func BenchmarkHashDefault(b *testing.B) {
	params := defaults().Argon2
	if params != (config.Argon2{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1}) {
		b.Fatalf("defaults changed to %+v; update this benchmark's doc", params)
	}
	for b.Loop() {
		if _, err := Hash("correct horse battery staple", params); err != nil {
			b.Fatal(err)
		}
	}
}
