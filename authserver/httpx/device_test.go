package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/httpx"
)

// The device cookie is host-only, HttpOnly and long-lived; on a TLS realm it is __Host-
// prefixed and one planted without the prefix (by a sibling subdomain or a plain-HTTP answer)
// is not read.
func TestDeviceCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		c := &config.Config{Listen: config.Listen{SecureCookies: secure}, Sessions: config.Sessions{CookieDomain: "example.com"}}
		c.Default()
		w := httptest.NewRecorder()
		httpx.SetDeviceCookie(w, c, "nonce.mac")
		httpx.SetDeviceCookie(w, c, "") // nothing to hand out
		cookies := w.Result().Cookies()
		if len(cookies) != 1 {
			t.Fatalf("secure=%v: %d cookies set, want 1", secure, len(cookies))
		}
		ck := cookies[0]
		want := "latch_device"
		if secure {
			want = "__Host-latch_device"
		}
		if ck.Name != want || ck.Value != "nonce.mac" || ck.Domain != "" || ck.Path != "/" || !ck.HttpOnly || ck.Secure != secure ||
			ck.MaxAge != int((180*24*time.Hour)/time.Second) {
			t.Errorf("secure=%v: device cookie %+v", secure, ck)
		}
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		if secure {
			r.AddCookie(&http.Cookie{Name: "latch_device", Value: "planted.value"})
		}
		r.AddCookie(&http.Cookie{Name: want, Value: "nonce.mac"})
		if got := httpx.DeviceCookie(r, c); got != "nonce.mac" {
			t.Errorf("secure=%v: read %q, want the cookie named %s", secure, got, want)
		}
		if secure {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.AddCookie(&http.Cookie{Name: "latch_device", Value: "planted.value"})
			if got := httpx.DeviceCookie(r, c); got != "" {
				t.Errorf("an unprefixed device cookie was read on a TLS realm: %q", got)
			}
		}
	}
}
