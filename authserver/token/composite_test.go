package token

import (
	"errors"
	"strings"
	"testing"
)

const (
	uid = "AAAAAAAAAAAAAAAAAAAAAA"
	sid = "BBBBBBBBBBBBBBBBBBBBBA"
	sec = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA"
)

func TestSessionTokenRoundTrip(t *testing.T) {
	u, _ := NewID()
	s, _ := NewID()
	x, _ := New()
	want := SessionToken{UserID: u, SessionID: s, Secret: x}
	got, err := ParseSessionToken(want.String())
	if err != nil {
		t.Fatalf("ParseSessionToken(%q): %v", want, err)
	}
	if got != want {
		t.Errorf("round trip = %+v, want %+v", got, want)
	}
	if n := len(want.String()); n != SessionTokenLen {
		t.Errorf("len = %d, want %d", n, SessionTokenLen)
	}
}

func TestUserTokenRoundTrip(t *testing.T) {
	u, _ := NewID()
	x, _ := New()
	want := UserToken{UserID: u, Secret: x}
	got, err := ParseUserToken(want.String())
	if err != nil {
		t.Fatalf("ParseUserToken(%q): %v", want, err)
	}
	if got != want {
		t.Errorf("round trip = %+v, want %+v", got, want)
	}
}

func TestDeviceTokenRoundTrip(t *testing.T) {
	x, _ := New()
	for _, id := range []string{"a", "sensor-gateway_01", strings.Repeat("z", MaxClientIDLen)} {
		want := DeviceToken{ClientID: id, Secret: x}
		got, err := ParseDeviceToken(want.String())
		if err != nil {
			t.Fatalf("ParseDeviceToken(%q): %v", want, err)
		}
		if got != want {
			t.Errorf("round trip = %+v, want %+v", got, want)
		}
	}
}

// malformed runs a parser over inputs that must all fail with ErrMalformed and an error message
// that does not repeat the secret (errors get logged).
func malformed(t *testing.T, parse func(string) error, inputs map[string]string) {
	t.Helper()
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			err := parse(in)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error = %v, want ErrMalformed", err)
			}
			if strings.Contains(err.Error(), sec) {
				t.Errorf("error %q repeats the secret", err)
			}
		})
	}
}

func TestParseSessionTokenRejects(t *testing.T) {
	malformed(t, func(s string) error { _, err := ParseSessionToken(s); return err }, map[string]string{
		"empty":              "",
		"two parts":          uid + "." + sec,
		"four parts":         uid + "." + sid + "." + sec[:20] + "." + sec[21:],
		"dot instead of id":  uid + ".." + sid[1:] + "." + sec,
		"short user id":      uid[1:] + "." + sid + "A." + sec,
		"long session id":    uid + "." + sid + "A." + sec[1:],
		"padding":            uid + "." + sid + "." + sec[:41] + "=",
		"std alphabet":       uid + "." + sid + "." + "+" + sec[1:],
		"trailing bits user": uid[:21] + "B." + sid + "." + sec,
		"trailing bits sec":  uid + "." + sid + "." + sec[:42] + "B",
		"space":              uid + "." + sid + "." + sec[:42] + " ",
		"too long":           uid + "." + sid + "." + sec + "A",
		"huge":               strings.Repeat("A", 1<<20),
		"non-ascii":          "é" + uid[2:] + "." + sid + "." + sec,
		"swapped secret/id":  sec + "." + uid + "." + sid,
	})
}

func TestParseUserTokenRejects(t *testing.T) {
	malformed(t, func(s string) error { _, err := ParseUserToken(s); return err }, map[string]string{
		"empty":          "",
		"one part":       uid + "A" + sec,
		"three parts":    uid + "." + sec[:20] + "." + sec[21:],
		"session token":  uid + "." + sid + "." + sec,
		"bad id":         "*" + uid[1:] + "." + sec,
		"bad secret":     uid + "." + sec[:42] + "=",
		"swapped":        sec + "." + uid,
		"leading dot":    "." + uid + sec,
		"newline inside": uid + "." + sec[:42] + "\n",
		"huge":           strings.Repeat(".", 1<<20),
	})
}

func TestParseDeviceTokenRejects(t *testing.T) {
	malformed(t, func(s string) error { _, err := ParseDeviceToken(s); return err }, map[string]string{
		"empty":            "",
		"no client":        "." + sec,
		"dotted client":    "my.client." + sec,
		"client too long":  strings.Repeat("c", MaxClientIDLen+1) + "." + sec,
		"client bad char":  "my client." + sec,
		"client slash":     "ns/client." + sec,
		"no secret":        "client.",
		"short secret":     "client." + sec[1:],
		"no separator":     "client" + sec,
		"huge":             strings.Repeat("c", 1<<20) + "." + sec,
		"secret with pad":  "client." + sec[:42] + "=",
		"trailing newline": "client." + sec + "\n",
	})
}

func FuzzParseSessionToken(f *testing.F) {
	f.Add(uid + "." + sid + "." + sec)
	f.Add(uid + "." + sec)
	f.Add("")
	f.Add("..")
	f.Add(uid + "." + sid + "." + sec[:42] + "B")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseSessionToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// Accepting means canonical: the parts are valid and format back to the input exactly,
		// so one token has one spelling and one hash.
		if tok.String() != s || !ValidID(tok.UserID) || !ValidID(tok.SessionID) || !ValidSecret(tok.Secret) {
			t.Fatalf("accepted non-canonical %q as %+v", s, tok)
		}
	})
}

func FuzzParseUserToken(f *testing.F) {
	f.Add(uid + "." + sec)
	f.Add(uid + "." + sid + "." + sec)
	f.Add("")
	f.Add(".")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseUserToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if tok.String() != s || !ValidID(tok.UserID) || !ValidSecret(tok.Secret) {
			t.Fatalf("accepted non-canonical %q as %+v", s, tok)
		}
	})
}

func FuzzParseDeviceToken(f *testing.F) {
	f.Add("client." + sec)
	f.Add("a.b." + sec)
	f.Add("")
	f.Add(".")
	f.Add(strings.Repeat("c", MaxClientIDLen) + "." + sec)
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseDeviceToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if tok.String() != s || !ValidClientID(tok.ClientID) || !ValidSecret(tok.Secret) {
			t.Fatalf("accepted non-canonical %q as %+v", s, tok)
		}
	})
}
