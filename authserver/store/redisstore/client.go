package redisstore

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/config"
)

// NewClient builds the go-redis client for the configured mode: a plain client, a Sentinel
// failover client, or a cluster client, all behind redis.UniversalClient. The mode is explicit
// rather than guessed from the number of addresses (go-redis's NewUniversalClient would take
// two standalone addresses for a cluster).
//
// Commands are not retried (MaxRetries -1): the store's scripts are not all idempotent, and a
// reply lost to a timeout must surface as ErrUnavailable rather than run the step twice.
func NewClient(cfg *config.Redis) (redis.UniversalClient, error) {
	cred, err := readCredentials(cfg)
	if err != nil {
		return nil, err
	}
	return NewClientWithCredentials(cfg, cred)
}

// readCredentials reads the password and CA bundle files the config names.
func readCredentials(cfg *config.Redis) (Credentials, error) {
	if cfg == nil || len(cfg.Addresses) == 0 {
		return Credentials{}, fmt.Errorf("redis: no addresses configured")
	}
	password, err := cfg.Password.Read()
	if err != nil {
		return Credentials{}, fmt.Errorf("redis password: %w", err)
	}
	var ca []byte
	if cfg.TLS != nil && cfg.TLS.CAFile != "" {
		if ca, err = os.ReadFile(cfg.TLS.CAFile); err != nil {
			return Credentials{}, fmt.Errorf("redis tls: %w", err)
		}
	}
	return Credentials{Password: password, CA: ca}, nil
}

// Credentials are the secret inputs of a Redis client, given as values by a caller that holds
// them in memory instead of in files: the operator, which reads a realm's Secrets from the
// Kubernetes API and must reach the realm's Redis exactly as its servers do.
type Credentials struct {
	// Password authenticates to the data nodes; empty sends none.
	Password string
	// CA is a PEM bundle of trusted CAs, used when cfg.TLS is set; empty uses the system roots.
	CA []byte
}

// NewClientWithCredentials is NewClient with the password and CA bundle given as values;
// cfg.Password and cfg.TLS.CAFile are ignored.
func NewClientWithCredentials(cfg *config.Redis, cred Credentials) (redis.UniversalClient, error) {
	if cfg == nil || len(cfg.Addresses) == 0 {
		return nil, fmt.Errorf("redis: no addresses configured")
	}
	password := cred.Password
	tlsConfig, err := newTLSConfig(cfg.TLS, cred.CA)
	if err != nil {
		return nil, err
	}
	opts := &redis.UniversalOptions{
		Addrs:        cfg.Addresses,
		MasterName:   cfg.MasterName,
		Username:     cfg.Username,
		Password:     password,
		DB:           cfg.DB,
		TLSConfig:    tlsConfig,
		DialTimeout:  cfg.DialTimeout.Duration,
		ReadTimeout:  cfg.ReadTimeout.Duration,
		WriteTimeout: cfg.WriteTimeout.Duration,
		PoolSize:     cfg.PoolSize,
		MaxRetries:   -1,
		// During an outage a request should fail fast (the dialect answers 500 and /readyz
		// takes the replica out) rather than queue behind go-redis's default five redials.
		DialerRetries:         2,
		DialerRetryTimeout:    50 * time.Millisecond,
		ContextTimeoutEnabled: true,
		ClientName:            "latch",
		// Pipelines (the lock checks of a login) share the main pool instead of a pool of
		// their own: the connections to Redis stay bounded by PoolSize, and a pipeline finds
		// a warm connection instead of paying a handshake.
		PipelinePoolSize: -1,
	}
	switch cfg.Mode {
	case config.RedisStandalone, "":
		return redis.NewClient(opts.Simple()), nil
	case config.RedisSentinel:
		// The credentials are the data nodes'. The config has none for the sentinels, which
		// are reached without AUTH (sending the data password to a sentinel that has none
		// would fail every connection).
		return redis.NewFailoverClient(opts.Failover()), nil
	case config.RedisCluster:
		return redis.NewClusterClient(opts.Cluster()), nil
	}
	return nil, fmt.Errorf("redis: unknown mode %q", cfg.Mode)
}

// sentinelOptions are the connection settings for the sentinels themselves (the failover
// watch's clients), as go-redis's Sentinel client sets them: the data nodes' TLS and timeouts,
// no credentials (the config has none for the sentinels).
func sentinelOptions(cfg *config.Redis, cred Credentials) (redis.Options, error) {
	tlsConfig, err := newTLSConfig(cfg.TLS, cred.CA)
	if err != nil {
		return redis.Options{}, err
	}
	return redis.Options{
		ClientName:            "latch-failover-watch",
		TLSConfig:             tlsConfig,
		DialTimeout:           cfg.DialTimeout.Duration,
		ReadTimeout:           cfg.ReadTimeout.Duration,
		WriteTimeout:          cfg.WriteTimeout.Duration,
		MaxRetries:            -1,
		PoolSize:              2,
		ContextTimeoutEnabled: true,
	}, nil
}

func newTLSConfig(c *config.TLS, ca []byte) (*tls.Config, error) {
	if c == nil {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // an explicit, documented test-only option
	}
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("redis tls: the CA bundle holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
