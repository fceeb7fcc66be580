package config

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Validate checks a defaulted config and returns every problem, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...)))
	}
	positive := func(field string, d Duration) {
		if d.Duration <= 0 {
			bad(field, "must be a positive duration, got %s", d.Duration)
		}
	}

	positive("listen.readHeaderTimeout", c.Listen.ReadHeaderTimeout)
	positive("listen.readTimeout", c.Listen.ReadTimeout)
	positive("listen.writeTimeout", c.Listen.WriteTimeout)
	positive("listen.idleTimeout", c.Listen.IdleTimeout)
	positive("listen.shutdownTimeout", c.Listen.ShutdownTimeout)
	if m := c.Listen.MaxHeaderBytes; m < 4<<10 || m > 1<<20 {
		bad("listen.maxHeaderBytes", "must be between 4096 and 1048576, got %d", m)
	}
	// Port 0 asks the kernel for a free port on each bind, so two such addresses never clash
	// (tests listen on "127.0.0.1:0" twice and read the bound addresses back).
	if c.Listen.Public == c.Listen.Admin && !strings.HasSuffix(c.Listen.Public, ":0") {
		bad("listen.admin", "must differ from listen.public (%s)", c.Listen.Public)
	}
	if !c.TokenHashKey.IsSet() {
		bad("tokenHashKey", "must name a file or env variable holding at least 32 bytes of key")
	}

	if r := c.Redis; r != nil {
		switch r.Mode {
		case RedisStandalone, RedisSentinel, RedisCluster:
		default:
			bad("redis.mode", "must be standalone, sentinel or cluster, got %q", r.Mode)
		}
		if len(r.Addresses) == 0 {
			bad("redis.addresses", "must list at least one host:port")
		}
		for i, a := range r.Addresses {
			if _, _, err := net.SplitHostPort(a); err != nil {
				bad(fmt.Sprintf("redis.addresses[%d]", i), "must be host:port, got %q", a)
			}
		}
		if r.Mode == RedisSentinel && r.MasterName == "" {
			bad("redis.masterName", "is required in sentinel mode")
		}
		if n := r.Fence.Replicas; n != nil && (*n < 0 || *n > 16) {
			bad("redis.fence.replicas", "must be between 0 and 16, got %d", *n)
		}
		if r.FenceReplicas() > 0 && r.Fence.Timeout.Duration >= r.ReadTimeout.Duration {
			bad("redis.fence.timeout", "must be shorter than redis.readTimeout (%s), got %s", r.ReadTimeout.Duration, r.Fence.Timeout.Duration)
		}
		if r.Mode == RedisCluster && r.DB != 0 {
			bad("redis.db", "must be 0 in cluster mode")
		}
	}

	prefixes := map[string]string{}
	prefix := func(dialect, p string) {
		field := "protocols." + dialect + ".prefix"
		if !strings.HasPrefix(p, "/") {
			bad(field, "must be an absolute path starting with '/', got %q", p)
		}
		if p != "/" && strings.HasSuffix(p, "/") {
			bad(field, "must not end with '/', got %q", p)
		}
		if other, ok := prefixes[p]; ok {
			bad(field, "%q is already used by protocols.%s", p, other)
		}
		prefixes[p] = dialect
	}
	p := c.Protocols
	enabled := p.Enabled()
	if len(enabled) == 0 {
		bad("protocols", "enable at least one dialect")
	}
	for _, e := range enabled {
		prefix(e.Name, e.Prefix)
	}
	if d := p.DeviseToken; d != nil {
		positive("protocols.deviseToken.tokenLifespan", d.TokenLifespan)
		positive("protocols.deviseToken.batchRequestBuffer", d.BatchRequestBuffer)
		if d.BatchRequestBuffer.Duration >= d.TokenLifespan.Duration {
			bad("protocols.deviseToken.batchRequestBuffer", "must be shorter than tokenLifespan (%s)", d.TokenLifespan.Duration)
		}
		if d.MaxDevices < 1 {
			bad("protocols.deviseToken.maxDevices", "must be at least 1, got %d", d.MaxDevices)
		}
		if d.DevicePolicy != EvictOldest && d.DevicePolicy != DenyNew {
			bad("protocols.deviseToken.devicePolicy", "must be EvictOldest or DenyNew, got %q", d.DevicePolicy)
		}
		if w := d.AllowPasswordChangeFor.Duration; w <= 0 || w > 24*time.Hour {
			bad("protocols.deviseToken.allowPasswordChangeFor", "must be a positive duration of at most 24h, got %s", w)
		}
	}
	if b := p.BearerToken; b != nil {
		positive("protocols.bearerToken.tokenLifespan", b.TokenLifespan)
	}
	if k := p.KeyToken; k != nil {
		positive("protocols.keyToken.accessTokenLifespan", k.AccessTokenLifespan)
		positive("protocols.keyToken.refreshTokenLifespan", k.RefreshTokenLifespan)
	}

	s := c.Sessions
	positive("sessions.idleTimeout", s.IdleTimeout)
	positive("sessions.absoluteTimeout", s.AbsoluteTimeout)
	switch s.CookieSameSite {
	case "Lax", "Strict":
	case "None":
		if !c.Listen.SecureCookies {
			// Browsers drop a SameSite=None cookie that is not Secure: every session would be
			// lost without a word.
			bad("sessions.cookieSameSite", "None requires listen.secureCookies (browsers drop a SameSite=None cookie that is not Secure)")
		}
	default:
		bad("sessions.cookieSameSite", "must be Lax, Strict or None, got %q", s.CookieSameSite)
	}
	c.validateCookieName(bad)

	pw := c.Passwords
	if pw.MinLength < 1 {
		bad("passwords.minLength", "must be at least 1")
	}
	if pw.MaxLength < pw.MinLength || pw.MaxLength > 4096 {
		bad("passwords.maxLength", "must be between minLength (%d) and 4096, got %d", pw.MinLength, pw.MaxLength)
	}
	if pw.Argon2.MemoryKiB < 8*uint32(pw.Argon2.Parallelism) {
		bad("passwords.argon2.memoryKiB", "must be at least 8 KiB per lane")
	}
	if pw.HashWorkers < 1 {
		bad("passwords.hashWorkers", "must be at least 1")
	}
	if pw.HashQueue < 1 {
		bad("passwords.hashQueue", "must be at least 1")
	}

	b := c.BruteForce
	if b.MaxFailuresPerLogin < 1 {
		bad("bruteForce.maxFailuresPerLogin", "must be at least 1")
	}
	if b.MaxFailuresPerIP < 1 {
		bad("bruteForce.maxFailuresPerIP", "must be at least 1")
	}
	if b.MaxFailuresPerLoginAndIP < 1 {
		bad("bruteForce.maxFailuresPerLoginAndIP", "must be at least 1")
	}
	if b.MaxFailuresPerDevice < 1 {
		bad("bruteForce.maxFailuresPerDevice", "must be at least 1")
	}
	positive("bruteForce.delay", b.Delay)
	positive("bruteForce.deviceCookieLifespan", b.DeviceCookieLifespan)
	positive("bruteForce.window", b.Window)
	positive("bruteForce.lockout", b.Lockout)
	for i, cidr := range b.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			bad(fmt.Sprintf("bruteForce.trustedProxies[%d]", i), "must be a CIDR, got %q", cidr)
		}
	}

	for _, nr := range []struct {
		name string
		r    RateLimit
	}{{"register", c.RateLimits.Register}, {"forgot", c.RateLimits.Forgot}, {"confirmation", c.RateLimits.Confirmation}} {
		name, r := nr.name, nr.r
		if r.PerIP < 1 {
			bad("rateLimits."+name+".perIP", "must be at least 1")
		}
		if r.PerLogin < 1 {
			bad("rateLimits."+name+".perLogin", "must be at least 1")
		}
		positive("rateLimits."+name+".window", r.Window)
	}

	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			bad("publicURL", "must be an absolute http or https URL without query, fragment or credentials, got %q", c.PublicURL)
		}
	}
	switch c.Registration.EmailConfirmation {
	case ConfirmationNone, ConfirmationOptional, ConfirmationRequired:
	default:
		bad("registration.emailConfirmation", "must be None, Optional or Required, got %q", c.Registration.EmailConfirmation)
	}
	if d := c.Registration.UnconfirmedAccessFor.Duration; d < 0 {
		bad("registration.unconfirmedAccessFor", "must not be negative, got %s", d)
	}

	e := c.Email
	positive("email.resetTokenLifespan", e.ResetTokenLifespan)
	positive("email.confirmTokenLifespan", e.ConfirmTokenLifespan)
	if m := e.SMTP; m != nil {
		if m.Host == "" {
			bad("email.smtp.host", "is required")
		}
		switch m.Security {
		case SMTPStartTLS, SMTPTLS, SMTPNone:
		default:
			bad("email.smtp.security", "must be StartTLS, TLS or None, got %q", m.Security)
		}
	}
	for i, o := range c.AllowedOrigins {
		if !isOrigin(o) {
			bad(fmt.Sprintf("allowedOrigins[%d]", i), "must be an origin scheme://host[:port] (http or https, no path), got %q", o)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	return errors.Join(errs...)
}

// validateCookieName refuses a session cookie name or domain that net/http would drop, and a
// name with a browser prefix whose rules the settings break: a browser refuses a __Secure-
// cookie that is not Secure, and a __Host- cookie that is not Secure or has a Domain. (The
// server adds __Host- itself when the cookie is Secure and host-only: httpx.Cookies.Name.)
func (c *Config) validateCookieName(bad func(field, format string, args ...any)) {
	s := c.Sessions
	if (&http.Cookie{Name: s.CookieName, Value: "v"}).Valid() != nil {
		bad("sessions.cookieName", "must be a cookie name (letters, digits and !#$%%&'*+-.^_`|~), got %q", s.CookieName)
	}
	if s.CookieDomain != "" && (&http.Cookie{Name: "n", Value: "v", Domain: s.CookieDomain}).Valid() != nil {
		bad("sessions.cookieDomain", "must be a domain name such as example.com, got %q", s.CookieDomain)
	}
	prefixed := func(p string) bool { return len(s.CookieName) >= len(p) && strings.EqualFold(s.CookieName[:len(p)], p) }
	switch {
	case prefixed("__Host-") && !c.Listen.SecureCookies:
		bad("sessions.cookieName", "a __Host- name requires listen.secureCookies")
	case prefixed("__Host-") && s.CookieDomain != "":
		bad("sessions.cookieName", "a __Host- name forbids sessions.cookieDomain")
	case prefixed("__Secure-") && !c.Listen.SecureCookies:
		bad("sessions.cookieName", "a __Secure- name requires listen.secureCookies")
	}
}

// isOrigin reports whether s is a browser origin as the Origin header carries it: http or
// https, a host, an optional port, and nothing else (the CRD's pattern, checked again here for
// configs written by hand).
func isOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.User == nil && u.Path == "" && u.RawQuery == "" && u.Fragment == "" && !u.ForceQuery &&
		!strings.ContainsAny(s, " \t")
}
