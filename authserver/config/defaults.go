package config

import (
	"runtime"
	"strings"
	"time"
)

func setDuration(d *Duration, def time.Duration) {
	if d.Duration == 0 {
		d.Duration = def
	}
}

func setInt(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

func setString(v *string, def string) {
	if *v == "" {
		*v = def
	}
}

// Default fills every unset field with its documented default.
func (c *Config) Default() {
	if c.Registration.EmailConfirmation == "" {
		c.Registration.EmailConfirmation = ConfirmationNone
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	l := &c.Listen
	setString(&l.Public, ":8080")
	setString(&l.Admin, ":9090")
	setDuration(&l.ReadHeaderTimeout, 5*time.Second)
	setDuration(&l.ReadTimeout, 15*time.Second)
	setDuration(&l.WriteTimeout, 30*time.Second)
	setDuration(&l.IdleTimeout, 120*time.Second)
	setDuration(&l.ShutdownTimeout, 25*time.Second)
	setInt(&l.MaxHeaderBytes, 32<<10)

	if r := c.Redis; r != nil {
		if r.Mode == "" {
			r.Mode = RedisStandalone
		}
		setDuration(&r.DialTimeout, 2*time.Second)
		setDuration(&r.ReadTimeout, time.Second)
		setDuration(&r.WriteTimeout, time.Second)
		setDuration(&r.Fence.Timeout, 250*time.Millisecond)
	}

	p := &c.Protocols
	if p.ReactAuth != nil {
		setString(&p.ReactAuth.Prefix, "/react-auth")
	}
	if d := p.DeviseToken; d != nil {
		setString(&d.Prefix, "/auth")
		setDuration(&d.TokenLifespan, 14*24*time.Hour)
		setDuration(&d.BatchRequestBuffer, 5*time.Second)
		setInt(&d.MaxDevices, 10)
		if d.DevicePolicy == "" {
			d.DevicePolicy = EvictOldest
		}
		setDuration(&d.AllowPasswordChangeFor, 15*time.Minute)
	}
	if p.Account != nil {
		setString(&p.Account.Prefix, "/account")
	}
	if b := p.BearerToken; b != nil {
		setString(&b.Prefix, "/api")
		setDuration(&b.TokenLifespan, 24*time.Hour)
	}
	if k := p.KeyToken; k != nil {
		setString(&k.Prefix, "/")
		setDuration(&k.AccessTokenLifespan, time.Hour)
		setDuration(&k.RefreshTokenLifespan, 14*24*time.Hour)
	}

	s := &c.Sessions
	setDuration(&s.IdleTimeout, 14*24*time.Hour)
	setDuration(&s.AbsoluteTimeout, 30*24*time.Hour)
	setString(&s.CookieName, "latch_session")
	setString(&s.CookieSameSite, "Lax")

	pw := &c.Passwords
	setInt(&pw.MinLength, 8)
	setInt(&pw.MaxLength, 256)
	if pw.Argon2.MemoryKiB == 0 {
		pw.Argon2.MemoryKiB = 19 * 1024
	}
	if pw.Argon2.Iterations == 0 {
		pw.Argon2.Iterations = 2
	}
	if pw.Argon2.Parallelism == 0 {
		pw.Argon2.Parallelism = 1
	}
	// GOMAXPROCS follows the container's CPU limit (Go 1.25+), unlike NumCPU.
	setInt(&pw.HashWorkers, runtime.GOMAXPROCS(0))
	setInt(&pw.HashQueue, 1024)

	b := &c.BruteForce
	setInt(&b.MaxFailuresPerLogin, 20)
	setInt(&b.MaxFailuresPerIP, 100)
	setInt(&b.MaxFailuresPerLoginAndIP, 10)
	setInt(&b.MaxFailuresPerDevice, 10)
	setDuration(&b.Delay, time.Second)
	setDuration(&b.DeviceCookieLifespan, 180*24*time.Hour)
	setDuration(&b.Window, 15*time.Minute)
	setDuration(&b.Lockout, 15*time.Minute)

	for _, r := range []struct {
		l             *RateLimit
		perIP, perLog int
	}{{&c.RateLimits.Register, 20, 5}, {&c.RateLimits.Forgot, 20, 3}, {&c.RateLimits.Confirmation, 20, 3}} {
		setInt(&r.l.PerIP, r.perIP)
		setInt(&r.l.PerLogin, r.perLog)
		setDuration(&r.l.Window, time.Hour)
	}

	e := &c.Email
	setString(&e.From, "no-reply@latch.local")
	setDuration(&e.ResetTokenLifespan, time.Hour)
	setDuration(&e.ConfirmTokenLifespan, 24*time.Hour)
	if e.SMTP != nil {
		if e.SMTP.Security == "" {
			e.SMTP.Security = SMTPStartTLS
		}
		if e.SMTP.Port == 0 {
			switch e.SMTP.Security {
			case SMTPTLS:
				e.SMTP.Port = 465
			case SMTPNone:
				e.SMTP.Port = 25
			default:
				e.SMTP.Port = 587
			}
		}
	}
	setString(&c.Log.Level, "info")
}
