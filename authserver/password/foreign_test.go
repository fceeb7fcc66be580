package password

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchauth/latch/authserver/config"
)

// Published vectors, each computed by the scheme's own implementation:
//   - argon2i: the reference implementation's src/test.c (password "password", salt "somesalt").
//   - bcrypt: the OpenBSD/Openwall crypt_blowfish test vectors ("U*U", cost 5).
//   - passlib: its documentation's pbkdf2_sha256.hash("toomanysecrets") (29000 rounds).
//   - Django: its test suite's make_password("lètmein", "seasalt", "pbkdf2_sha256") of Django
//     1.8 (20000 iterations); Python's hashlib.pbkdf2_hmac gives the same.
var foreignVectors = []struct {
	scheme   Scheme
	password string
	encoded  string
}{
	{SchemeArgon2i, "password", "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA"},
	{SchemeArgon2i, "password", "$argon2i$v=19$m=65536,t=1,p=1$c29tZXNhbHQ$0WgHXE2YXhPr6uVgz4uUw7XYoWxRkWtvSsLaOsEbvs8"},
	{SchemeBcrypt, "U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
	{SchemeBcrypt, "U*U*", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK"},
	{SchemePBKDF2, "toomanysecrets", "$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk"},
	{SchemeDjangoPBKDF2, "lètmein", "pbkdf2_sha256$20000$seasalt$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0="},
}

func TestForeignVectors(t *testing.T) {
	p, s := newTestPool(t, fast, 2, 4)
	for _, v := range foreignVectors {
		t.Run(string(v.scheme), func(t *testing.T) {
			got, err := Identify(v.encoded)
			if err != nil || got != v.scheme {
				t.Fatalf("Identify = %q, %v; want %q", got, err, v.scheme)
			}
			rehash, err := p.Verify(t.Context(), v.password, v.encoded)
			if err != nil || !rehash {
				t.Errorf("Verify(right password) = %v, %v; want true (rehash), nil", rehash, err)
			}
			if _, err := p.Verify(t.Context(), v.password+"x", v.encoded); !errors.Is(err, ErrMismatch) {
				t.Errorf("Verify(wrong password) = %v, want ErrMismatch", err)
			}
			if rehash, err := Verify(v.password, v.encoded, fast); err != nil || !rehash {
				t.Errorf("package Verify = %v, %v; want true, nil", rehash, err)
			}
		})
	}
	if n := s.calls.Load(); n != 0 {
		t.Errorf("foreign schemes ran argon2id %d times", n)
	}
}

// bcrypt as devise writes it ($2a$, and the $2b$/$2y$ spellings of other implementations),
// including the 72-byte truncation every bcrypt applies: a devise user whose password was
// longer must still log in with it.
func TestBcryptSpellingsAndTruncation(t *testing.T) {
	long := strings.Repeat("a", 72)
	h, err := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		enc := prefix + string(h[4:])
		if _, err := Verify(long+"beyond", enc, fast); err != nil {
			t.Errorf("%s: a password longer than 72 bytes, same first 72: %v", prefix, err)
		}
		if _, err := Verify(long[:71], enc, fast); !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: a 71-byte prefix: %v, want ErrMismatch", prefix, err)
		}
	}
}

func TestForeignBoundsRefused(t *testing.T) {
	const bc = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
	const pl = "$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk"
	const dj = "pbkdf2_sha256$20000$seasalt$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0="
	for name, enc := range map[string]string{
		"bcrypt cost 16":         strings.Replace(bc, "$05$", "$16$", 1),
		"bcrypt cost 31":         strings.Replace(bc, "$05$", "$31$", 1),
		"bcrypt cost 03":         strings.Replace(bc, "$05$", "$03$", 1),
		"bcrypt cost +5":         strings.Replace(bc, "$05$", "$+5$", 1),
		"bcrypt short":           bc[:59],
		"bcrypt bad alphabet":    strings.Replace(bc, "CCC", "C+C", 1),
		"bcrypt $2x$":            strings.Replace(bc, "$2a$", "$2x$", 1),
		"passlib 3000001 rounds": strings.Replace(pl, "$29000$", "$3000001$", 1),
		"passlib 0 rounds":       strings.Replace(pl, "$29000$", "$0$", 1),
		"passlib leading zero":   strings.Replace(pl, "$29000$", "$029000$", 1),
		"passlib std base64":     strings.Replace(pl, ".", "+", 1),
		"passlib extra field":    pl + "$x",
		"django 99999999":        strings.Replace(dj, "$20000$", "$99999999$", 1),
		"django unpadded":        strings.TrimSuffix(dj, "="),
		"django empty salt":      strings.Replace(dj, "seasalt", "", 1),
		"argon2i t=0":            strings.Replace(foreignVectors[0].encoded, "t=2", "t=0", 1),
		"argon2i m=4GiB":         strings.Replace(foreignVectors[0].encoded, "m=65536", "m=4194304", 1),
		"argon2d":                strings.Replace(foreignVectors[0].encoded, "argon2i", "argon2d", 1),
		"md5 crypt":              "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
		"sha512 crypt":           "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
		"plain text":             "hunter22",
		"empty":                  "",
		"huge":                   "pbkdf2_sha256$20000$" + strings.Repeat("s", 300) + "$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0=",
	} {
		if _, err := Identify(enc); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: Identify = %v, want ErrMalformedHash", name, err)
		}
		if _, err := Verify("password", enc, fast); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: Verify = %v, want ErrMalformedHash", name, err)
		}
	}
}

func TestIdentifyArgon2id(t *testing.T) {
	if s, err := Identify(refHash); err != nil || s != SchemeArgon2id {
		t.Errorf("Identify(argon2id) = %q, %v", s, err)
	}
	if _, err := Identify(strings.Replace(refHash, "t=2", "t=0", 1)); !errors.Is(err, ErrMalformedHash) {
		t.Errorf("Identify(argon2id t=0) = %v, want ErrMalformedHash", err)
	}
}

// Foreign verifications hold a worker like argon2id does: with the one worker taken, a bcrypt
// check waits in the queue, and finds it full when the queue is.
func TestForeignVerifyIsBoundedByThePool(t *testing.T) {
	p, s := newTestPool(t, config.Argon2{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 1, 1)
	s.hold.Store(true)
	enc, _ := Hash("held", fast)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = p.Verify(t.Context(), "held", enc)
	}()
	<-s.started
	waited := make(chan error, 1)
	go func() { waited <- p.VerifyBcrypt(t.Context(), "U*U", foreignVectors[2].encoded) }()
	waitFor(t, "the bcrypt check to queue", func() bool { return p.Queued() == 1 })
	if _, err := p.Verify(t.Context(), "U*U", foreignVectors[2].encoded); !errors.Is(err, ErrBusy) {
		t.Errorf("a second foreign check on a full pool = %v, want ErrBusy", err)
	}
	close(s.release)
	<-done
	if err := <-waited; err != nil {
		t.Errorf("queued bcrypt check = %v, want nil", err)
	}
}

func TestVerifyBcryptOnlyAcceptsBcrypt(t *testing.T) {
	p, _ := newTestPool(t, fast, 1, 1)
	for _, v := range foreignVectors {
		err := p.VerifyBcrypt(t.Context(), v.password, v.encoded)
		if v.scheme == SchemeBcrypt && err != nil {
			t.Errorf("VerifyBcrypt(%s) = %v", v.encoded, err)
		}
		if v.scheme != SchemeBcrypt && !errors.Is(err, ErrMalformedHash) {
			t.Errorf("VerifyBcrypt(%s scheme) = %v, want ErrMalformedHash", v.scheme, err)
		}
	}
	if err := p.VerifyBcrypt(t.Context(), "U*U*", foreignVectors[2].encoded); !errors.Is(err, ErrMismatch) {
		t.Errorf("VerifyBcrypt(wrong secret) = %v, want ErrMismatch", err)
	}
}
