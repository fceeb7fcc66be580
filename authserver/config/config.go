package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is the whole server configuration. Zero values are replaced by the defaults in
// Default, so a minimal file names only what differs.
type Config struct {
	// Realm names the realm this server serves; it appears in logs, metrics and emails.
	Realm string `json:"realm"`
	// PublicURL is where the realm's clients reach this server (scheme, host, optional path
	// prefix; no query), e.g. "https://auth.example.com". Mails that link to the API itself
	// use it: deviseToken's reset and confirmation links. Unset, those flows mail the
	// realm's email.resetURL and email.confirmURL pages instead.
	PublicURL string `json:"publicURL,omitempty"`
	// Listen holds the two ports.
	Listen Listen `json:"listen"`
	// Redis is the shared store; nil selects the in-memory store (one development server).
	Redis *Redis `json:"redis,omitempty"`
	// TokenHashKey is the HMAC key that tokens are hashed with before they are stored.
	TokenHashKey Secret `json:"tokenHashKey"`
	// Protocols holds the five dialects; a nil dialect is disabled.
	Protocols Protocols `json:"protocols"`
	// Sessions holds the session lifetimes and cookie settings shared by every dialect.
	Sessions Sessions `json:"sessions"`
	// Passwords holds the password policy and the argon2id parameters.
	Passwords Passwords `json:"passwords"`
	// Registration says who may register.
	Registration Registration `json:"registration"`
	// BruteForce holds the failed-login limits.
	BruteForce BruteForce `json:"bruteForce"`
	// RateLimits bounds the unauthenticated requests that cost a hash or send mail.
	RateLimits RateLimits `json:"rateLimits"`
	// Email holds the mailer settings.
	Email Email `json:"email"`
	// AllowedOrigins lists the browser origins allowed by CORS and the WebSocket Origin check.
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
	// Clients holds the client-registry settings.
	Clients Clients `json:"clients"`
	// Log holds the logging settings.
	Log Log `json:"log"`
}

// Listen holds the public and admin listen addresses and the HTTP server timeouts.
type Listen struct {
	// Public is the address of the dialects' port (default ":8080").
	Public string `json:"public,omitempty"`
	// Admin is the address of /healthz, /readyz and /metrics (default ":9090").
	Admin string `json:"admin,omitempty"`
	// ReadHeaderTimeout bounds how long a client may take to send its request headers (default
	// 5s); one that stalls after sending part of them gets 408 and a closed connection.
	ReadHeaderTimeout Duration `json:"readHeaderTimeout,omitempty"`
	// ReadTimeout bounds how long a client may take to send a whole request (default 15s); a
	// slower client gets 408 where the dialect defines it.
	ReadTimeout Duration `json:"readTimeout,omitempty"`
	// WriteTimeout bounds the time to write a response (default 30s).
	WriteTimeout Duration `json:"writeTimeout,omitempty"`
	// IdleTimeout bounds an idle keep-alive connection (default 120s).
	IdleTimeout Duration `json:"idleTimeout,omitempty"`
	// ShutdownTimeout bounds the drain of in-flight requests on SIGTERM (default 25s).
	ShutdownTimeout Duration `json:"shutdownTimeout,omitempty"`
	// MaxHeaderBytes bounds the size of a request's headers, request line included (default
	// 32768). Auth requests carry a cookie or a token or two; Go's own default of 1 MiB would
	// let each connection hold far more memory than any client needs.
	MaxHeaderBytes int `json:"maxHeaderBytes,omitempty"`
	// SecureCookies marks session cookies Secure; set it when the realm is served over TLS.
	SecureCookies bool `json:"secureCookies,omitempty"`
	// Pprof serves Go's profiler (net/http/pprof) under /debug/pprof/ on the admin port. Off by
	// default, which keeps the admin port to its three endpoints: profiles reveal internals and
	// cost CPU while they run. `make bench` turns it on to profile servers under load.
	Pprof bool `json:"pprof,omitempty"`
}

// RedisMode selects how the Redis client connects.
type RedisMode string

// The Redis modes.
const (
	RedisStandalone RedisMode = "standalone"
	RedisSentinel   RedisMode = "sentinel"
	RedisCluster    RedisMode = "cluster"
)

// Redis configures the shared store.
type Redis struct {
	// Mode is standalone, sentinel or cluster (default standalone).
	Mode RedisMode `json:"mode,omitempty"`
	// Addresses are host:port pairs: the server, the sentinels, or cluster seed nodes.
	Addresses []string `json:"addresses"`
	// MasterName is the Sentinel master set name (sentinel mode only).
	MasterName string `json:"masterName,omitempty"`
	// Username is the ACL user, if any.
	Username string `json:"username,omitempty"`
	// Password is the Redis password, read from a file or the environment.
	Password Secret `json:"password,omitempty"`
	// DB is the database number (standalone and sentinel only).
	DB int `json:"db,omitempty"`
	// TLS enables TLS to Redis.
	TLS *TLS `json:"tls,omitempty"`
	// KeyPrefix is prepended to every key, so several realms can share one Redis.
	KeyPrefix string `json:"keyPrefix,omitempty"`
	// DialTimeout, ReadTimeout and WriteTimeout bound each Redis operation (defaults 2s, 1s, 1s).
	DialTimeout  Duration `json:"dialTimeout,omitempty"`
	ReadTimeout  Duration `json:"readTimeout,omitempty"`
	WriteTimeout Duration `json:"writeTimeout,omitempty"`
	// PoolSize is the connection pool size per node (default go-redis's, 10 per CPU).
	PoolSize int `json:"poolSize,omitempty"`
	// Fence makes a write that ends or changes a session answer only once replicas hold it,
	// so that a failover cannot bring back a logged-out session.
	Fence Fence `json:"fence,omitempty"`
}

// Fence is the replication acknowledgement a write waits for (Redis WAIT) before it is
// answered. Redis replicates asynchronously: without it, a logout the master took but had not
// yet sent to its replica is lost when that replica is promoted, and the session comes back.
// A write that is not acknowledged in time is answered as a store failure (500), never as a
// success, although the master holds it.
type Fence struct {
	// Replicas is how many replicas must acknowledge a write; 0 turns the fence off. Default:
	// 1 in sentinel and cluster mode, 0 in standalone mode (a standalone server has no
	// replica to wait for). It must not exceed the replicas each master really has, or every
	// write fails. In sentinel mode 1 is exact with any number of replicas (the store refuses
	// fenced writes while the sentinels announce a failover); in cluster mode it must equal
	// the replicas each master has.
	Replicas *int `json:"replicas,omitempty"`
	// Timeout is how long a write waits for the acknowledgements (default 250ms).
	Timeout Duration `json:"timeout,omitempty"`
}

// FenceReplicas is Replicas with its default for the mode applied.
func (r *Redis) FenceReplicas() int {
	if r.Fence.Replicas != nil {
		return *r.Fence.Replicas
	}
	if r.Mode == RedisSentinel || r.Mode == RedisCluster {
		return 1
	}
	return 0
}

// TLS configures a TLS client.
type TLS struct {
	// CAFile is a PEM bundle of trusted CAs; empty uses the system roots.
	CAFile string `json:"caFile,omitempty"`
	// ServerName overrides the name checked in the server certificate.
	ServerName string `json:"serverName,omitempty"`
	// InsecureSkipVerify disables certificate checks; for tests only.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// Secret is a secret value read from a file (preferred: a mounted Kubernetes Secret) or an
// environment variable. Its value is never part of the config file.
type Secret struct {
	// File is the path of a file holding the value; surrounding whitespace is trimmed.
	File string `json:"file,omitempty"`
	// Env is the name of an environment variable holding the value.
	Env string `json:"env,omitempty"`
}

// IsSet reports whether the secret names a source.
func (s Secret) IsSet() bool { return s.File != "" || s.Env != "" }

// Read returns the secret's value.
func (s Secret) Read() (string, error) {
	switch {
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	}
	return "", nil
}

// Protocols holds the dialects; nil means disabled.
type Protocols struct {
	ReactAuth   *ReactAuth   `json:"reactAuth,omitempty"`
	DeviseToken *DeviseToken `json:"deviseToken,omitempty"`
	Account     *Account     `json:"account,omitempty"`
	BearerToken *BearerToken `json:"bearerToken,omitempty"`
	KeyToken    *KeyToken    `json:"keyToken,omitempty"`
}

// Protocol is one enabled dialect as the server mounts it.
type Protocol struct {
	// Name is the dialect's key under protocols ("reactAuth", "deviseToken", ...), which is
	// also its name in sessions, logs and metrics.
	Name string
	// Prefix is where its routes are mounted.
	Prefix string
	// Settings is the dialect's own section: a *ReactAuth, *DeviseToken, *Account,
	// *BearerToken or *KeyToken of this Protocols.
	Settings any
}

// Enabled lists the dialects this config enables, in a fixed order (the order above). It is
// the one place that maps the typed sections to names and prefixes: validation and the
// server read it rather than each asking the five fields again.
func (p Protocols) Enabled() []Protocol {
	var out []Protocol
	if p.ReactAuth != nil {
		out = append(out, Protocol{Name: "reactAuth", Prefix: p.ReactAuth.Prefix, Settings: p.ReactAuth})
	}
	if p.DeviseToken != nil {
		out = append(out, Protocol{Name: "deviseToken", Prefix: p.DeviseToken.Prefix, Settings: p.DeviseToken})
	}
	if p.Account != nil {
		out = append(out, Protocol{Name: "account", Prefix: p.Account.Prefix, Settings: p.Account})
	}
	if p.BearerToken != nil {
		out = append(out, Protocol{Name: "bearerToken", Prefix: p.BearerToken.Prefix, Settings: p.BearerToken})
	}
	if p.KeyToken != nil {
		out = append(out, Protocol{Name: "keyToken", Prefix: p.KeyToken.Prefix, Settings: p.KeyToken})
	}
	return out
}

// Lookup returns the enabled dialect called name.
func (p Protocols) Lookup(name string) (Protocol, bool) {
	for _, e := range p.Enabled() {
		if e.Name == name {
			return e, true
		}
	}
	return Protocol{}, false
}

// ReactAuth is the @fantaptik/react-auth dialect (docs/protocol.md#reactauth).
type ReactAuth struct {
	// Prefix is the path prefix (default "/react-auth").
	Prefix string `json:"prefix,omitempty"`
}

// DevicePolicy says what happens when a user signs in on one device more than MaxDevices allows.
type DevicePolicy string

// The device policies.
const (
	EvictOldest DevicePolicy = "EvictOldest"
	DenyNew     DevicePolicy = "DenyNew"
)

// DeviseToken is the devise_token_auth dialect (docs/protocol.md#devisetoken).
type DeviseToken struct {
	// Prefix is the path prefix (default "/auth").
	Prefix string `json:"prefix,omitempty"`
	// TokenLifespan is how long a token lives, sliding on rotation (default 336h).
	TokenLifespan Duration `json:"tokenLifespan,omitempty"`
	// BatchRequestBuffer is the window after a rotation in which the current token is echoed
	// and the previous one still accepted (default 5s).
	BatchRequestBuffer Duration `json:"batchRequestBuffer,omitempty"`
	// MaxDevices is the number of clients (devices) a user may hold at once (default 10).
	MaxDevices int `json:"maxDevices,omitempty"`
	// DevicePolicy is EvictOldest (default) or DenyNew.
	DevicePolicy DevicePolicy `json:"devicePolicy,omitempty"`
	// AllowPasswordChangeFor is how long the session a reset link opens (GET password/edit)
	// may change the password once without current_password (devise's allow_password_change;
	// default 15m, at most 24h).
	AllowPasswordChangeFor Duration `json:"allowPasswordChangeFor,omitempty"`
	// CurrentPasswordOptional lets every session change the password without
	// current_password, as devise_token_auth does by default (check_current_password_before_update
	// false). Off by default: a session alone, perhaps stolen, must not lock the user out.
	CurrentPasswordOptional bool `json:"currentPasswordOptional,omitempty"`
}

// Account is the cookie-session JSON dialect (docs/protocol.md#account).
type Account struct {
	// Prefix is the path prefix (default "/account").
	Prefix string `json:"prefix,omitempty"`
}

// BearerToken is the status-envelope bearer dialect (docs/protocol.md#bearertoken).
type BearerToken struct {
	// Prefix is the path prefix (default "/api").
	Prefix string `json:"prefix,omitempty"`
	// TokenLifespan is the lifetime of user tokens (default 24h).
	TokenLifespan Duration `json:"tokenLifespan,omitempty"`
}

// KeyToken is the key/token/refresh dialect (docs/protocol.md#keytoken).
type KeyToken struct {
	// Prefix is the path prefix (default "/").
	Prefix string `json:"prefix,omitempty"`
	// AccessTokenLifespan is the lifetime of access tokens (default 1h).
	AccessTokenLifespan Duration `json:"accessTokenLifespan,omitempty"`
	// RefreshTokenLifespan is the lifetime of refresh tokens (default 336h).
	RefreshTokenLifespan Duration `json:"refreshTokenLifespan,omitempty"`
}

// Sessions holds the lifetimes shared by every dialect's sessions.
type Sessions struct {
	// IdleTimeout ends a session unused for this long (default 336h).
	IdleTimeout Duration `json:"idleTimeout,omitempty"`
	// AbsoluteTimeout ends a session this long after login, whatever its use (default 720h).
	AbsoluteTimeout Duration `json:"absoluteTimeout,omitempty"`
	// CookieName is the session cookie's name (default "latch_session").
	CookieName string `json:"cookieName,omitempty"`
	// CookieDomain is the cookie's Domain attribute; empty means host-only.
	CookieDomain string `json:"cookieDomain,omitempty"`
	// CookieSameSite is Lax (default), Strict or None.
	CookieSameSite string `json:"cookieSameSite,omitempty"`
}

// Passwords holds the password policy and hashing parameters.
type Passwords struct {
	// MinLength is the shortest accepted password in characters (default 8).
	MinLength int `json:"minLength,omitempty"`
	// MaxLength is the longest accepted password in bytes (default 256); longer is refused,
	// never truncated.
	MaxLength int `json:"maxLength,omitempty"`
	// Argon2 holds the argon2id parameters.
	Argon2 Argon2 `json:"argon2"`
	// HashWorkers bounds concurrent hash computations (default: the number of CPUs), so a login
	// flood queues instead of exhausting memory.
	HashWorkers int `json:"hashWorkers,omitempty"`
	// HashQueue bounds the requests waiting for a worker (default 1024); past it a login gets
	// the dialect's internal error rather than growing the queue.
	HashQueue int `json:"hashQueue,omitempty"`
}

// Argon2 holds argon2id parameters (defaults: OWASP's baseline m=19 MiB, t=2, p=1).
type Argon2 struct {
	MemoryKiB   uint32 `json:"memoryKiB,omitempty"`
	Iterations  uint32 `json:"iterations,omitempty"`
	Parallelism uint8  `json:"parallelism,omitempty"`
}

// Registration says who may register.
type Registration struct {
	// Closed refuses every registration.
	Closed bool `json:"closed,omitempty"`
	// EmailConfirmation says whether a new user confirms their email address: None (the
	// default: active at once, no mail), Optional (a confirmation mail is sent and the user,
	// pending until they follow it, may log in meanwhile, for UnconfirmedAccessFor if set) or
	// Required (pending users are refused by every dialect, with its failed-login answer).
	EmailConfirmation ConfirmationMode `json:"emailConfirmation,omitempty"`
	// UnconfirmedAccessFor bounds how long after registering a pending user may log in under
	// Optional (devise's allow_unconfirmed_access_for); 0 is no bound.
	UnconfirmedAccessFor Duration `json:"unconfirmedAccessFor,omitempty"`
}

// ConfirmationMode is Registration.EmailConfirmation.
type ConfirmationMode string

// The confirmation modes.
const (
	ConfirmationNone     ConfirmationMode = "None"
	ConfirmationOptional ConfirmationMode = "Optional"
	ConfirmationRequired ConfirmationMode = "Required"
)

// Confirms reports whether new users are pending and mailed a confirmation link.
func (r Registration) Confirms() bool {
	return r.EmailConfirmation == ConfirmationOptional || r.EmailConfirmation == ConfirmationRequired
}

// BruteForce holds failed-login limits (docs/security.md has the policy). A client that signed
// in to a login before holds a device cookie for it and is judged by that cookie's own counter
// alone, so a stranger's failures never lock the owner out of a device they used before.
// Strangers (clients without such a cookie) are counted per address (IPv6 per /64), per login
// and per (login, address) pair, unknown logins included; past half a limit each failure holds
// the login or pair back for a doubling delay, and at the limit it is locked for Lockout. A
// refused attempt answers like a wrong password, is not hashed and is not counted.
type BruteForce struct {
	// MaxFailuresPerLogin within Window locks the login for strangers (default 20: with the
	// default window and lockout at most 100 wrong guesses an hour reach the password, ASVS's
	// cap). Clients with a device cookie for the login are not affected.
	MaxFailuresPerLogin int `json:"maxFailuresPerLogin,omitempty"`
	// MaxFailuresPerIP within Window locks the client address, for every login it has no
	// device cookie for (default 100).
	MaxFailuresPerIP int `json:"maxFailuresPerIP,omitempty"`
	// MaxFailuresPerLoginAndIP within Window locks one login from one address (default 10),
	// so one address spends at most this much of the login's budget.
	MaxFailuresPerLoginAndIP int `json:"maxFailuresPerLoginAndIP,omitempty"`
	// MaxFailuresPerDevice within Window locks one device cookie (default 10).
	MaxFailuresPerDevice int `json:"maxFailuresPerDevice,omitempty"`
	// Delay is the first progressive delay (default 1s): past half of a login's, pair's or
	// device's limit, each failure holds it back for Delay, doubling, at most Lockout.
	Delay Duration `json:"delay,omitempty"`
	// Window is the counting window (default 15m).
	Window Duration `json:"window,omitempty"`
	// Lockout is how long a lock lasts (default 15m).
	Lockout Duration `json:"lockout,omitempty"`
	// DeviceCookieLifespan is how long a device cookie lets its client through (default 4320h, 180 days).
	DeviceCookieLifespan Duration `json:"deviceCookieLifespan,omitempty"`
	// TrustedProxies lists CIDRs whose X-Forwarded-For is believed for the client IP.
	TrustedProxies []string `json:"trustedProxies,omitempty"`
}

// RateLimits bounds the unauthenticated requests that cost a password hash or send mail, per
// client address (IPv6 per /64) and per login, known or not, in the store, so every replica
// shares the count. Past a limit a request gets the dialect's 429 until the window ends.
type RateLimits struct {
	// Register bounds registrations (each costs an argon2id hash and may send a confirmation
	// mail): default 20 per address and 5 per login an hour.
	Register RateLimit `json:"register"`
	// Forgot bounds password-reset requests (each may send a mail): default 20 per address and
	// 3 per login an hour. A user keeps up to perLogin reset links alive at once, so strangers
	// asking again and again cannot void the link the user is about to click.
	Forgot RateLimit `json:"forgot"`
	// Confirmation bounds requests that mail a new confirmation link: default 20 per address
	// and 3 per login an hour.
	Confirmation RateLimit `json:"confirmation"`
}

// RateLimit is the number of requests allowed per address and per login within Window.
type RateLimit struct {
	PerIP    int      `json:"perIP,omitempty"`
	PerLogin int      `json:"perLogin,omitempty"`
	Window   Duration `json:"window,omitempty"`
}

// SMTPSecurity selects how the SMTP connection is secured.
type SMTPSecurity string

// The SMTP security modes.
const (
	SMTPStartTLS SMTPSecurity = "StartTLS"
	SMTPTLS      SMTPSecurity = "TLS"
	SMTPNone     SMTPSecurity = "None"
)

// Email configures outgoing mail.
type Email struct {
	// SMTP is the mail server; nil selects the log mailer (development).
	SMTP *SMTP `json:"smtp,omitempty"`
	// From is the sender address (default "no-reply@latch.local").
	From string `json:"from,omitempty"`
	// ResetURL is the page that receives ?uid=USER_ID&t=RESET_TOKEN.
	ResetURL string `json:"resetURL,omitempty"`
	// ConfirmURL is the page that receives ?uid=USER_ID&t=CONFIRM_TOKEN.
	ConfirmURL string `json:"confirmURL,omitempty"`
	// ResetTokenLifespan is how long a reset token lives (default 1h).
	ResetTokenLifespan Duration `json:"resetTokenLifespan,omitempty"`
	// ConfirmTokenLifespan is how long a confirmation token lives (default 24h).
	ConfirmTokenLifespan Duration `json:"confirmTokenLifespan,omitempty"`
	// TemplatesDir holds overriding templates, KIND.txt and KIND.html for each KIND of reset,
	// confirm, password_changed, confirm_email and email_change_requested.
	TemplatesDir string `json:"templatesDir,omitempty"`
}

// SMTP is an SMTP server.
type SMTP struct {
	Host     string       `json:"host"`
	Port     int          `json:"port,omitempty"`
	Security SMTPSecurity `json:"security,omitempty"`
	Username Secret       `json:"username,omitempty"`
	Password Secret       `json:"password,omitempty"`
	// TLS configures certificate checks for StartTLS and TLS.
	TLS *TLS `json:"tls,omitempty"`
}

// Clients holds client-registry settings.
type Clients struct {
	// RequireRegistered makes keyToken refuse a client id that no DeviceClient registered.
	RequireRegistered bool `json:"requireRegistered,omitempty"`
}

// Log holds logging settings.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `json:"level,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("15m", "336h").
type Duration struct{ time.Duration }

// D makes a Duration.
func D(d time.Duration) Duration { return Duration{d} }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"15m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", s, err)
	}
	d.Duration = v
	return nil
}

// Parse decodes a config file's bytes (JSON; YAML is JSON-compatible for the operator's
// output), rejects unknown fields, applies defaults and validates.
func Parse(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.Default()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Load reads and parses a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data)
}

// Marshal writes the config as indented JSON, the form the operator stores in a ConfigMap.
func (c *Config) Marshal() ([]byte, error) { return json.MarshalIndent(c, "", "  ") }

// ErrInvalid marks a validation failure; the message names the field.
var ErrInvalid = errors.New("invalid config")
