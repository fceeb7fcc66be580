package redisstore_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
	"github.com/latchauth/latch/authserver/store/redistest"
	"github.com/latchauth/latch/internal/childproc"
)

func TestNewClientModes(t *testing.T) {
	t.Parallel()
	for mode, want := range map[config.RedisMode]string{
		config.RedisStandalone: "*redis.Client",
		config.RedisSentinel:   "*redis.Client", // go-redis's failover client is a *Client
		config.RedisCluster:    "*redis.ClusterClient",
	} {
		cfg := redisConfig(mode, "127.0.0.1:1")
		cfg.MasterName = "mymaster"
		c, err := redisstore.NewClient(&cfg)
		must(t, err)
		switch c.(type) {
		case *redis.Client:
			if want != "*redis.Client" {
				t.Errorf("%s: got *redis.Client, want %s", mode, want)
			}
		case *redis.ClusterClient:
			if want != "*redis.ClusterClient" {
				t.Errorf("%s: got *redis.ClusterClient, want %s", mode, want)
			}
		default:
			t.Errorf("%s: got %T", mode, c)
		}
		_ = c.Close()
	}
	bad := redisConfig("ring", "127.0.0.1:1")
	if _, err := redisstore.NewClient(&bad); err == nil {
		t.Error("an unknown mode was accepted")
	}
	braces := redisConfig(config.RedisStandalone, "127.0.0.1:1")
	braces.KeyPrefix = "realm{a}:"
	if _, err := redisstore.Open(&braces); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("a prefix with a hash tag: got %v, want ErrInvalidArgument", err)
	}
}

func TestOpenWithPassword(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	file := filepath.Join(t.TempDir(), "password")
	must(t, os.WriteFile(file, []byte("s3cret\n"), 0o600))
	cfg := redisConfig(config.RedisStandalone, srv.Addr)
	cfg.Password = config.Secret{File: file}
	s := openStore(t, cfg)
	must(t, s.Ping(t.Context()))

	t.Setenv("LATCH_TEST_REDIS_PASSWORD", "wrong")
	cfg.Password = config.Secret{Env: "LATCH_TEST_REDIS_PASSWORD"}
	wrong, err := redisstore.Open(&cfg)
	must(t, err)
	defer wrong.Close()
	if err := wrong.Ping(t.Context()); err == nil {
		t.Error("a wrong password was accepted")
	}
	cfg.Password = config.Secret{Env: "LATCH_TEST_UNSET_VARIABLE"}
	if _, err := redisstore.Open(&cfg); err == nil {
		t.Error("an unset password variable was accepted")
	}
}

func TestOpenWithTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestPKI(t, dir)
	tlsPort, err := childproc.FreePort()
	must(t, err)
	srv := redistest.Start(t,
		"--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-ca-cert-file", caFile, "--tls-auth-clients", "no")
	_ = srv
	cfg := redisConfig(config.RedisStandalone, net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort)))
	cfg.TLS = &config.TLS{CAFile: caFile}
	s := openStore(t, cfg)
	must(t, s.Ping(t.Context()))
	now := msNow()
	_, err = s.CreateUser(t.Context(), store.User{ID: newID(), Login: "tls@example.com", Status: store.StatusActive}, now)
	must(t, err)

	// The server's certificate is not trusted by the system roots: refused, as an outage.
	cfg.TLS = &config.TLS{}
	untrusted, err := redisstore.Open(&cfg)
	must(t, err)
	defer untrusted.Close()
	if err := untrusted.Ping(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("untrusted certificate: got %v, want ErrUnavailable", err)
	}
	cfg.TLS = &config.TLS{CAFile: filepath.Join(dir, "missing.pem")}
	if _, err := redisstore.Open(&cfg); err == nil {
		t.Error("a missing CA file was accepted")
	}
	cfg.TLS = &config.TLS{CAFile: keyFile}
	if _, err := redisstore.Open(&cfg); err == nil {
		t.Error("a CA file without certificates was accepted")
	}
}

// TestOpenWithCredentials: a caller holding the password and CA in memory (the operator,
// reading a realm's Secrets) reaches the same Redis the servers reach through files, and the
// config's file fields are not consulted.
func TestOpenWithCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestPKI(t, dir)
	caPEM, err := os.ReadFile(caFile)
	must(t, err)
	tlsPort, err := childproc.FreePort()
	must(t, err)
	redistest.Start(t, "--requirepass", "s3cret",
		"--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-ca-cert-file", caFile, "--tls-auth-clients", "no")
	cfg := redisConfig(config.RedisStandalone, net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort)))
	cfg.Password = config.Secret{File: filepath.Join(dir, "no-such-password-file")}
	cfg.TLS = &config.TLS{CAFile: filepath.Join(dir, "no-such-ca.pem")}

	s, err := redisstore.OpenWithCredentials(&cfg, redisstore.Credentials{Password: "s3cret", CA: caPEM})
	must(t, err)
	defer s.Close()
	must(t, s.Ping(t.Context()))

	wrong, err := redisstore.OpenWithCredentials(&cfg, redisstore.Credentials{Password: "wrong", CA: caPEM})
	must(t, err)
	defer wrong.Close()
	if err := wrong.Ping(t.Context()); err == nil {
		t.Error("a wrong password was accepted")
	}
	if _, err := redisstore.OpenWithCredentials(&cfg, redisstore.Credentials{Password: "s3cret", CA: []byte("not a certificate")}); err == nil {
		t.Error("a CA bundle without certificates was accepted")
	}
}

// writeTestPKI writes a CA and a server certificate for 127.0.0.1, signed by it.
func writeTestPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "latch test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err)
	ca, err := x509.ParseCertificate(caDER)
	must(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	must(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("redis.pem", "CERTIFICATE", leafDER), write("redis.key", "EC PRIVATE KEY", keyDER)
}
