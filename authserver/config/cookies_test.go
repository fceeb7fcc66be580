package config

import (
	"strings"
	"testing"
)

// A SameSite=None cookie that is not Secure is dropped by browsers: the session would be
// lost silently, so the config refuses it and names both fields.
func TestSameSiteNoneRequiresSecureCookies(t *testing.T) {
	c := minimal()
	c.Sessions.CookieSameSite = "None"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "sessions.cookieSameSite") || !strings.Contains(err.Error(), "listen.secureCookies") {
		t.Errorf("SameSite None without secure cookies: Validate = %v, want an error naming sessions.cookieSameSite and listen.secureCookies", err)
	}
	c.Listen.SecureCookies = true
	if err := c.Validate(); err != nil {
		t.Errorf("SameSite None with secure cookies: Validate = %v", err)
	}
}

// A cookie name or domain a browser would refuse (or net/http would drop) is refused at start,
// and so is a name with a browser prefix whose rules the settings break: __Host- needs Secure
// and no Domain, __Secure- needs Secure.
func TestCookieNameAndDomain(t *testing.T) {
	for name, tc := range map[string]struct {
		edit  func(*Config)
		field string // "" when valid
	}{
		"default":                  {func(*Config) {}, ""},
		"plain name":               {func(c *Config) { c.Sessions.CookieName = "app_sid" }, ""},
		"space in name":            {func(c *Config) { c.Sessions.CookieName = "my session" }, "sessions.cookieName"},
		"separator in name":        {func(c *Config) { c.Sessions.CookieName = "a;b" }, "sessions.cookieName"},
		"__Host- without secure":   {func(c *Config) { c.Sessions.CookieName = "__Host-sid" }, "sessions.cookieName"},
		"__host- without secure":   {func(c *Config) { c.Sessions.CookieName = "__host-sid" }, "sessions.cookieName"},
		"__Secure- without secure": {func(c *Config) { c.Sessions.CookieName = "__Secure-sid" }, "sessions.cookieName"},
		"__Host- with secure":      {func(c *Config) { c.Sessions.CookieName, c.Listen.SecureCookies = "__Host-sid", true }, ""},
		"__Secure- with secure":    {func(c *Config) { c.Sessions.CookieName, c.Listen.SecureCookies = "__Secure-sid", true }, ""},
		"domain":                   {func(c *Config) { c.Sessions.CookieDomain = "example.com" }, ""},
		"bad domain":               {func(c *Config) { c.Sessions.CookieDomain = "exa mple.com" }, "sessions.cookieDomain"},
		"__Host- with a domain": {func(c *Config) {
			c.Sessions.CookieName, c.Listen.SecureCookies, c.Sessions.CookieDomain = "__Host-sid", true, "example.com"
		}, "sessions.cookieName"},
	} {
		c := minimal()
		tc.edit(c)
		err := c.Validate()
		if tc.field == "" && err != nil {
			t.Errorf("%s: Validate = %v", name, err)
		}
		if tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)) {
			t.Errorf("%s: Validate = %v, want an error naming %s", name, err, tc.field)
		}
	}
}
