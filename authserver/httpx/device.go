package httpx

import (
	"net/http"
	"time"

	"github.com/latchauth/latch/authserver/config"
)

// deviceCookieName is the device cookie's name over plain HTTP; over HTTPS it carries the
// __Host- prefix, which browsers accept only from a secure origin, host-only, on path "/",
// so no sibling domain or plain-HTTP page can plant or overwrite it.
const deviceCookieName = "latch_device"

// maxDeviceCookieLen bounds the value looked at: a real one is 87 bytes (core.NewDeviceCookie).
const maxDeviceCookieLen = 128

// DeviceCookieName is the device cookie's name under c.
func DeviceCookieName(c *config.Config) string {
	if c.Listen.SecureCookies {
		return "__Host-" + deviceCookieName
	}
	return deviceCookieName
}

// DeviceCookie returns the device cookie r presents, or "". The core checks its MAC.
func DeviceCookie(r *http.Request, c *config.Config) string {
	for i, ck := range r.CookiesNamed(DeviceCookieName(c)) {
		if i == 4 {
			break
		}
		if len(ck.Value) <= maxDeviceCookieLen {
			return ck.Value
		}
	}
	return ""
}

// SetDeviceCookie hands the client a device cookie (core.Issued.Device; nothing when empty).
// It is HttpOnly, host-only and long-lived: a client that keeps it is recognised at its next
// sign-in to the same login, and is then judged by its own brute-force counter.
func SetDeviceCookie(w http.ResponseWriter, c *config.Config, value string) {
	if value == "" {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     DeviceCookieName(c),
		Value:    value,
		Path:     "/",
		MaxAge:   int(c.BruteForce.DeviceCookieLifespan.Duration / time.Second),
		HttpOnly: true,
		Secure:   c.Listen.SecureCookies,
		SameSite: SameSite(c.Sessions.CookieSameSite),
	})
}

// SameSite maps the config's cookieSameSite to net/http's mode (Lax when unset).
func SameSite(mode string) http.SameSite {
	switch mode {
	case "Strict":
		return http.SameSiteStrictMode
	case "None":
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
}
