package password

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
)

// Produced by the reference implementation's CLI (Debian package argon2):
//
//	echo -n password | argon2 somesaltsomesalt -id -t 2 -m 10 -p 1 -l 32 -e
//	echo -n password | argon2 somesalt -id -t 3 -m 6 -p 2 -l 24 -e
const (
	refHash      = "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA"
	refHashOther = "$argon2id$v=19$m=64,t=3,p=2$c29tZXNhbHQ$AiN7UXayTFhQfjoNnBfWfLPVye2dvnAR"
)

func TestParsePHCReference(t *testing.T) {
	h, err := ParsePHC(refHash)
	if err != nil {
		t.Fatal(err)
	}
	if want := (config.Argon2{MemoryKiB: 1024, Iterations: 2, Parallelism: 1}); h.Params != want {
		t.Errorf("params = %+v, want %+v", h.Params, want)
	}
	if !bytes.Equal(h.Salt, []byte("somesaltsomesalt")) || len(h.Key) != 32 {
		t.Errorf("salt = %q, key length %d", h.Salt, len(h.Key))
	}
	if got := h.String(); got != refHash {
		t.Errorf("String() = %s, want %s", got, refHash)
	}
}

func TestParsePHCRejects(t *testing.T) {
	const salt, key = "c29tZXNhbHRzb21lc2FsdA", "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA"
	const params = "m=1024,t=2,p=1"
	mk := func(alg, ver, params, salt, key string) string {
		return "$" + alg + "$" + ver + "$" + params + "$" + salt + "$" + key
	}
	tests := map[string]string{
		"empty":               "",
		"bcrypt":              "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":             mk("argon2i", "v=19", params, salt, key),
		"argon2d":             mk("argon2d", "v=19", params, salt, key),
		"version 16":          mk("argon2id", "v=16", params, salt, key),
		"no version":          "$argon2id$" + params + "$" + salt + "$" + key,
		"no leading dollar":   mk("argon2id", "v=19", params, salt, key)[1:],
		"trailing dollar":     mk("argon2id", "v=19", params, salt, key) + "$",
		"params out of order": mk("argon2id", "v=19", "t=2,m=1024,p=1", salt, key),
		"extra param":         mk("argon2id", "v=19", params+",keyid=abc", salt, key),
		"missing param":       mk("argon2id", "v=19", "m=1024,t=2", salt, key),
		"spaces":              mk("argon2id", "v=19", "m=1024, t=2, p=1", salt, key),
		"leading zero":        mk("argon2id", "v=19", "m=01024,t=2,p=1", salt, key),
		"plus sign":           mk("argon2id", "v=19", "m=+1024,t=2,p=1", salt, key),
		"negative":            mk("argon2id", "v=19", "m=-1024,t=2,p=1", salt, key),
		"zero iterations":     mk("argon2id", "v=19", "m=1024,t=0,p=1", salt, key),
		"zero lanes":          mk("argon2id", "v=19", "m=1024,t=2,p=0", salt, key),
		"too many lanes":      mk("argon2id", "v=19", "m=1024,t=2,p=65", salt, key),
		"memory below lanes":  mk("argon2id", "v=19", "m=15,t=2,p=2", salt, key),
		"memory too large":    mk("argon2id", "v=19", "m=2097153,t=2,p=1", salt, key),
		"memory overflow":     mk("argon2id", "v=19", "m=99999999999999999999,t=2,p=1", salt, key),
		"iterations too many": mk("argon2id", "v=19", "m=1024,t=101,p=1", salt, key),
		"hex digits":          mk("argon2id", "v=19", "m=0x400,t=2,p=1", salt, key),
		"newline in key":      mk("argon2id", "v=19", params, salt, key[:10]+"\r\n"+key[10:]),
		"padded salt":         mk("argon2id", "v=19", params, salt+"==", key),
		"padded key":          mk("argon2id", "v=19", params, salt, key+"="),
		"url alphabet key":    mk("argon2id", "v=19", params, salt, strings.ReplaceAll(key, "/", "_")),
		"key trailing bits":   mk("argon2id", "v=19", params, salt, key[:42]+"B"),
		"short salt":          mk("argon2id", "v=19", params, "c29tZXNh", key),
		"short key":           mk("argon2id", "v=19", params, salt, "AAAAAAAAAAAAAAAAAAAA"),
		"empty salt":          mk("argon2id", "v=19", params, "", key),
		"empty key":           mk("argon2id", "v=19", params, salt, ""),
		"long key":            mk("argon2id", "v=19", params, salt, strings.Repeat("A", 88)),
		"huge":                mk("argon2id", "v=19", params, salt, strings.Repeat("A", 1<<20)),
		"many dollars":        strings.Repeat("$", 1<<20),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePHC(in); !errors.Is(err, ErrMalformedHash) {
				t.Errorf("ParsePHC error = %v, want ErrMalformedHash", err)
			}
		})
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add(refHash)
	f.Add(refHashOther)
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$$")
	f.Add("$$$$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParsePHC(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error %v does not wrap ErrMalformedHash", err)
			}
			return
		}
		// Accepted means canonical and within bounds: it formats back to the input, and the
		// parameters are safe to hand to argon2 (which panics on t=0 or p=0).
		if h.String() != s {
			t.Fatalf("accepted non-canonical %q (formats as %q)", s, h.String())
		}
		if err := checkParams(h.Params); err != nil {
			t.Fatalf("accepted out-of-bounds %q: %v", s, err)
		}
		if len(h.Salt) < minSaltLen || len(h.Salt) > maxSaltLen || len(h.Key) < minKeyLen || len(h.Key) > maxKeyLen {
			t.Fatalf("accepted salt %d / key %d bytes", len(h.Salt), len(h.Key))
		}
	})
}
