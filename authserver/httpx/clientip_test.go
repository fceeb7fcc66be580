package httpx

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.168.1.1/32", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct", "203.0.113.7:4711", nil, "203.0.113.7"},
		{"untrusted peer's header is ignored", "203.0.113.7:4711", []string{"1.2.3.4"}, "203.0.113.7"},
		{"trusted proxy", "10.1.2.3:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"chain of trusted proxies", "10.1.2.3:80", []string{"198.51.100.9, 192.168.1.1, 10.9.9.9"}, "198.51.100.9"},
		{"client-written entries are not believed", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.9"}, "198.51.100.9"},
		{"several header lines", "10.1.2.3:80", []string{"6.6.6.6", "198.51.100.9, 10.0.0.1"}, "198.51.100.9"},
		{"garbled entry stops the walk", "10.1.2.3:80", []string{"198.51.100.9, garbage, 10.0.0.2"}, "10.0.0.2"},
		{"all trusted", "10.1.2.3:80", []string{"10.0.0.1"}, "10.0.0.1"},
		{"no header from a proxy", "10.1.2.3:80", nil, "10.1.2.3"},
		{"entry with port", "10.1.2.3:80", []string{"198.51.100.9:5555"}, "198.51.100.9"},
		{"ipv6 peer", "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"ipv6 bracketed entry", "[fd00::1]:443", []string{"[2001:db8::2]:1"}, "2001:db8::2"},
		{"v4-mapped peer", "[::ffff:203.0.113.7]:1", nil, "203.0.113.7"},
		{"v4-mapped trusted proxy", "[::ffff:10.0.0.5]:1", []string{"198.51.100.9"}, "198.51.100.9"},
		{"no address", "@", nil, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, trusted); got != tc.want {
				t.Errorf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := ParseTrustedProxies([]string{"10.0.0.0/8", "not a cidr"}); err == nil || !strings.Contains(err.Error(), "trustedProxies[1]") {
		t.Errorf("ParseTrustedProxies(bad) = %v, want an error naming the entry", err)
	}
}

// The walk is bounded: a hostile header of many trusted-looking hops costs the same as a
// short one and cannot choose an address beyond the bound.
func TestClientIPBoundedWalk(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "6.6.6.6"+strings.Repeat(", 10.0.0.9", 100))
	if got := clientIP(r, trusted); got != "10.0.0.9" {
		t.Errorf("clientIP = %q, want the last hop examined, 10.0.0.9", got)
	}
}

func TestRequestID(t *testing.T) {
	for in, keep := range map[string]bool{
		"abc-123_X.y":           true,
		"":                      false,
		strings.Repeat("a", 64): true,
		strings.Repeat("a", 65): false,
		"has space":             false,
		"new\nline":             false,
		`{"json":"injection"}`:  false,
		"\u00e9":                false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Request-Id", in)
		got := requestID(r)
		if keep && got != in {
			t.Errorf("requestID(%q) = %q, want it kept", in, got)
		}
		if !keep && (got == in || !validRequestID(got)) {
			t.Errorf("requestID(%q) = %q, want a fresh valid id", in, got)
		}
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:80", "198.51.100.9, 10.0.0.2")
	f.Add("[::ffff:10.0.0.1]:1", "[2001:db8::2]:1,garbage")
	f.Add("203.0.113.7:4711", "")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::/0")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := clientIP(r, trusted)
		if got == "unknown" {
			return
		}
		// Whatever the input, the result is a canonical address: it keys brute-force
		// counters and must not carry anything else.
		a, err := netip.ParseAddr(got)
		if err != nil || a.String() != got || a.Is4In6() {
			t.Fatalf("clientIP(%q, %q) = %q, not a canonical address", remote, xff, got)
		}
	})
}
