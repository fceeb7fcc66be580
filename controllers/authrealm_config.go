package controllers

import (
	"fmt"
	"path"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/config"
)

// secretFile is one Secret key projected into the server pod as a file.
type secretFile struct {
	// Secret and Key name the source.
	Secret, Key string
	// File is the file name under secretsDir.
	File string
	// Field is the spec field that referenced it, for messages that say what to fix.
	Field string
}

// renderedConfig is the server config of a realm plus the Secret keys the pods must mount
// for it.
type renderedConfig struct {
	Config  *config.Config
	Secrets []secretFile
	// Access names, among Secrets, the ones the operator itself reads to reach the realm's
	// store as its servers do.
	Access accessSecrets
}

// accessSecrets are the Secret keys behind the settings a DeviceClient reconcile uses: the
// Redis password and CA (nil when the realm sets none) and the token hash key.
type accessSecrets struct {
	RedisPassword, RedisCA *secretFile
	TokenHashKey           secretFile
}

// renderConfig turns a realm spec into the server's own config type, so what the operator
// writes is exactly what the server reads. It is pure: it touches no client.
func renderConfig(r *authv1.AuthRealm) renderedConfig {
	s := r.Spec
	out := renderedConfig{}
	mount := func(secret, key, file, field string) config.Secret {
		out.Secrets = append(out.Secrets, secretFile{Secret: secret, Key: key, File: file, Field: field})
		return config.Secret{File: path.Join(secretsDir, file)}
	}
	// mounted is the Secret key that mount added last.
	mounted := func() *secretFile { f := out.Secrets[len(out.Secrets)-1]; return &f }

	c := &config.Config{
		Realm:     r.Namespace + "/" + r.Name,
		PublicURL: publicURL(s),
		Listen: config.Listen{
			Public:        fmt.Sprintf(":%d", authv1.ServerPort),
			Admin:         fmt.Sprintf(":%d", authv1.AdminPort),
			SecureCookies: s.Sessions.Cookie.IsSecure() || (s.Ingress != nil && s.Ingress.TLSSecretName != ""),
		},
		AllowedOrigins: s.AllowedOrigins,
		Clients:        config.Clients{RequireRegistered: s.RequireRegisteredClients},
		Log:            config.Log{Level: string(s.LogLevel)},
	}
	c.TokenHashKey = mount(keysSecretName(r), keyTokenHashKey, keyTokenHashKey, "generated keys")
	out.Access.TokenHashKey = *mounted()

	switch {
	case s.ExternalRedis() != nil:
		e := s.ExternalRedis()
		rc := &config.Redis{
			Mode:      config.RedisMode(lowerFirst(string(e.Mode))),
			Addresses: e.Addresses,
			Username:  e.Username,
			DB:        int(e.DB),
			KeyPrefix: e.KeyPrefix,
		}
		if rc.Mode == "" {
			rc.Mode = config.RedisStandalone
		}
		if e.Mode == authv1.RedisSentinel {
			rc.MasterName = e.MasterName
		}
		if f := e.Fence; f != nil {
			if f.Replicas != nil {
				n := int(*f.Replicas)
				rc.Fence.Replicas = &n
			}
			rc.Fence.Timeout = durp(f.Timeout)
		}
		if ref := e.PasswordSecretRef; ref != nil {
			rc.Password = mount(ref.Name, ref.Key, "redis-password", "spec.redis.external.passwordSecretRef")
			out.Access.RedisPassword = mounted()
		}
		if t := e.TLS; t != nil {
			rc.TLS = &config.TLS{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
			if ref := t.CASecretRef; ref != nil {
				rc.TLS.CAFile = mount(ref.Name, ref.Key, "redis-ca.pem", "spec.redis.external.tls.caSecretRef").File
				out.Access.RedisCA = mounted()
			}
		}
		c.Redis = rc
	default: // managed
		c.Redis = &config.Redis{
			Mode:      config.RedisStandalone,
			Addresses: []string{fmt.Sprintf("%s.%s.svc:%d", redisName(r), r.Namespace, redisPort)},
			Password:  mount(keysSecretName(r), keyRedisPassword, "redis-password", "generated keys"),
		}
		out.Access.RedisPassword = mounted()
	}

	p := s.Protocols
	if d := p.ReactAuth; d.IsEnabled() {
		c.Protocols.ReactAuth = &config.ReactAuth{Prefix: d.Prefix}
	}
	if d := p.DeviseToken; d.IsEnabled() {
		c.Protocols.DeviseToken = &config.DeviseToken{
			Prefix:             d.Prefix,
			TokenLifespan:      durp(d.TokenLifespan),
			BatchRequestBuffer: durp(d.BatchRequestBuffer),
			MaxDevices:         int(d.MaxDevices),
			DevicePolicy:       config.DevicePolicy(d.DevicePolicy),

			AllowPasswordChangeFor:  durp(d.AllowPasswordChangeFor),
			CurrentPasswordOptional: d.CurrentPasswordOptional,
		}
	}
	if d := p.Account; d.IsEnabled() {
		c.Protocols.Account = &config.Account{Prefix: d.Prefix}
	}
	if d := p.BearerToken; d.IsEnabled() {
		c.Protocols.BearerToken = &config.BearerToken{Prefix: d.Prefix, TokenLifespan: durp(d.TokenLifespan)}
	}
	if d := p.KeyToken; d.IsEnabled() {
		c.Protocols.KeyToken = &config.KeyToken{
			Prefix:               d.Prefix,
			AccessTokenLifespan:  durp(d.AccessTokenLifespan),
			RefreshTokenLifespan: durp(d.RefreshTokenLifespan),
		}
	}

	c.Sessions = config.Sessions{
		IdleTimeout:     durp(s.Sessions.IdleTimeout),
		AbsoluteTimeout: durp(s.Sessions.AbsoluteTimeout),
		CookieName:      s.Sessions.Cookie.Name,
		CookieDomain:    s.Sessions.Cookie.Domain,
		CookieSameSite:  string(s.Sessions.Cookie.SameSite),
	}
	h := s.Passwords.Hashing
	c.Passwords = config.Passwords{
		MinLength: int(s.Passwords.MinLength),
		MaxLength: int(s.Passwords.MaxLength),
		Argon2: config.Argon2{
			MemoryKiB:   uint32(max(h.MemoryKiB, 0)),
			Iterations:  uint32(max(h.Iterations, 0)),
			Parallelism: uint8(min(max(h.Parallelism, 0), 255)),
		},
	}
	if h.Workers != nil {
		c.Passwords.HashWorkers = int(*h.Workers)
	}
	c.Registration = config.Registration{
		Closed:            s.Registration.Mode == authv1.RegistrationClosed,
		EmailConfirmation: config.ConfirmationMode(s.Registration.EmailConfirmation),
	}
	if d := s.Registration.UnconfirmedAccessFor; d != nil {
		c.Registration.UnconfirmedAccessFor = config.Duration{Duration: d.Duration}
	}
	b := s.BruteForce
	c.BruteForce = config.BruteForce{
		MaxFailuresPerLogin:      int(b.MaxFailuresPerLogin),
		MaxFailuresPerIP:         int(b.MaxFailuresPerIP),
		MaxFailuresPerLoginAndIP: int(b.MaxFailuresPerLoginAndIP),
		MaxFailuresPerDevice:     int(b.MaxFailuresPerDevice),
		Delay:                    durp(b.Delay),
		Window:                   durp(b.Window),
		Lockout:                  durp(b.Lockout),
		DeviceCookieLifespan:     durp(b.DeviceCookieLifespan),
		TrustedProxies:           b.TrustedProxies,
	}
	rl := s.RateLimits
	c.RateLimits = config.RateLimits{
		Register: rateLimit(rl.Register), Forgot: rateLimit(rl.Forgot), Confirmation: rateLimit(rl.Confirmation),
	}
	e := s.Email
	c.Email = config.Email{
		From:                 e.From,
		ResetURL:             e.ResetURL,
		ConfirmURL:           e.ConfirmURL,
		ResetTokenLifespan:   durp(e.ResetTokenLifespan),
		ConfirmTokenLifespan: durp(e.ConfirmTokenLifespan),
	}
	if e.TemplatesConfigMapName != "" {
		c.Email.TemplatesDir = templatesDir
	}
	if m := e.SMTP; m != nil {
		c.Email.SMTP = &config.SMTP{Host: m.Host, Port: int(m.Port), Security: config.SMTPSecurity(m.Security)}
		if m.CredentialsSecretName != "" {
			f := "spec.email.smtp.credentialsSecretName"
			c.Email.SMTP.Username = mount(m.CredentialsSecretName, "username", "smtp-username", f)
			c.Email.SMTP.Password = mount(m.CredentialsSecretName, "password", "smtp-password", f)
		}
	}
	// Defaults fill what the CRD left unset (an object written before a default existed), so
	// the ConfigMap always holds the complete, explicit config the servers will run with.
	c.Default()
	if h.Workers == nil {
		// Leave the pool size to each server, which sizes it by its own CPU limit.
		c.Passwords.HashWorkers = 0
	}
	out.Config = c
	return out
}

// rateLimit converts an optional rate limit; unset fields stay zero for config.Default to fill.
func rateLimit(r *authv1.RateLimitSpec) config.RateLimit {
	if r == nil {
		return config.RateLimit{}
	}
	return config.RateLimit{PerIP: int(r.PerIP), PerLogin: int(r.PerLogin), Window: durp(r.Window)}
}

// durp converts an optional duration; unset stays zero for config.Default to fill.
func durp(d *metav1.Duration) config.Duration { return config.D(authv1.DurationOr(d, 0)) }

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	b := []byte(s)
	if b[0] >= 'A' && b[0] <= 'Z' {
		b[0] += 'a' - 'A'
	}
	return string(b)
}

// publicURL is spec.publicURL, or the Ingress's URL (https when it has a TLS Secret).
func publicURL(s authv1.AuthRealmSpec) string {
	switch {
	case s.PublicURL != "":
		return s.PublicURL
	case s.Ingress == nil:
		return ""
	case s.Ingress.TLSSecretName != "":
		return "https://" + s.Ingress.Host
	}
	return "http://" + s.Ingress.Host
}
