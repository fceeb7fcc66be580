package httpx

import (
	"net/http"

	"github.com/latchauth/latch/authserver/config"
)

// deviceCookieName is the device cookie's name; on a TLS realm it carries the __Host- prefix
// (Cookies.Name), so no sibling domain or plain-HTTP answer can plant or overwrite it.
const deviceCookieName = "latch_device"

// maxDeviceCookieLen bounds the value looked at: a real one is about 98 bytes (core.NewDeviceCookie).
const maxDeviceCookieLen = 128

// DeviceCookie returns the device cookie r presents, or "". The core checks its MAC.
func DeviceCookie(r *http.Request, c *config.Config) string {
	return NewCookies(c).Read(r, deviceCookieName, HostOnly, func(v string) bool { return len(v) <= maxDeviceCookieLen })
}

// SetDeviceCookie hands the client a device cookie (core.Issued.Device; nothing when empty).
// It is HttpOnly, host-only and long-lived: a client that keeps it is recognised at its next
// sign-in to the same login, and is then judged by its own brute-force counter.
func SetDeviceCookie(w http.ResponseWriter, c *config.Config, value string) {
	if value != "" {
		NewCookies(c).Set(w, deviceCookieName, value, c.BruteForce.DeviceCookieLifespan.Duration, HostOnly)
	}
}
