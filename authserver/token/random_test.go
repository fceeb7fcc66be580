package token

import (
	"encoding/base64"
	"testing"
)

func TestNewIsCanonicalAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s, err := New()
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != SecretLen || !ValidSecret(s) {
			t.Fatalf("New() = %q: not a canonical %d-character secret", s, SecretLen)
		}
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(raw) != SecretBytes {
			t.Fatalf("New() = %q decodes to %d bytes, %v", s, len(raw), err)
		}
		if seen[s] {
			t.Fatalf("New() repeated %q", s)
		}
		seen[s] = true
	}
}

func TestNewIDIsCanonicalAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id, err := NewID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != IDLen || !ValidID(id) {
			t.Fatalf("NewID() = %q: not a canonical %d-character ID", id, IDLen)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestValidSecretAndID(t *testing.T) {
	secret := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	id := "AAAAAAAAAAAAAAAAAAAAAA"
	tests := []struct {
		name   string
		in     string
		secret bool
		id     bool
	}{
		{"zero secret", secret, true, false},
		{"zero id", id, false, true},
		{"url alphabet", "-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_A", true, false},
		{"empty", "", false, false},
		{"short secret", secret[1:], false, false},
		{"long secret", secret + "A", false, false},
		{"std alphabet plus", "+" + secret[1:], false, false},
		{"std alphabet slash", "/" + secret[1:], false, false},
		{"padding", secret[2:] + "==", false, false},
		{"dot", "." + secret[1:], false, false},
		{"space", " " + secret[1:], false, false},
		{"non-ascii", "é" + secret[2:], false, false},
		// 43 characters carry 258 bits: the last character's low 2 bits must be zero, and 22
		// characters carry 132 bits: the last character's low 4 bits must be zero. Otherwise
		// two spellings would decode to one value.
		{"secret nonzero trailing bits", secret[:42] + "B", false, false},
		{"id nonzero trailing bits", id[:21] + "B", false, false},
		{"id trailing bits zero", id[:21] + "Q", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidSecret(tt.in); got != tt.secret {
				t.Errorf("ValidSecret(%q) = %v, want %v", tt.in, got, tt.secret)
			}
			if got := ValidID(tt.in); got != tt.id {
				t.Errorf("ValidID(%q) = %v, want %v", tt.in, got, tt.id)
			}
		})
	}
}
