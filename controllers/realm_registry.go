package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
	"github.com/latchauth/latch/authserver/token"
)

// registry is the part of a realm's store the operator writes: client registrations.
type registry = store.Clients

// realmConnection is how the operator reaches a realm's Redis: the very client config the
// realm's servers run with (renderConfig, the one source of truth for addresses, mode, TLS and
// key prefix) with the secret values the servers read from mounted files, read here from the
// same Secrets through the API.
type realmConnection struct {
	Redis       config.Redis
	Credentials redisstore.Credentials
}

// fingerprint identifies the connection settings: a change in any of them (an address, the
// password, the CA, the key prefix) means a new client.
func (c realmConnection) fingerprint() string {
	h := sha256.New()
	b, _ := json.Marshal(c.Redis) // a config.Redis always marshals
	h.Write(b)
	fmt.Fprintf(h, "\x00%d\x00%s\x00", len(c.Credentials.Password), c.Credentials.Password)
	h.Write(c.Credentials.CA)
	return hex.EncodeToString(h.Sum(nil))
}

// secretValue reads one key of a Secret a realm's rendered config mounts. A missing Secret or
// key is a problem for the user (or, for the generated keys, a realm not reconciled yet);
// other errors are transient.
func secretValue(ctx context.Context, c client.Reader, ns string, f secretFile) ([]byte, *problem, error) {
	sec := &corev1.Secret{}
	err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: f.Secret}, sec)
	switch {
	case kerrors.IsNotFound(err):
		return nil, &problem{authv1.ReasonRealmNotReady,
			fmt.Sprintf("Secret %s/%s (%s of the realm) does not exist yet", ns, f.Secret, f.Field)}, nil
	case err != nil:
		return nil, nil, fmt.Errorf("get Secret %s/%s: %w", ns, f.Secret, err)
	}
	v, ok := sec.Data[f.Key]
	if !ok || len(v) == 0 {
		return nil, &problem{authv1.ReasonRealmNotReady,
			fmt.Sprintf("Secret %s/%s (%s of the realm) has no key %q", ns, f.Secret, f.Field, f.Key)}, nil
	}
	return v, nil, nil
}

// mountedSecret finds the Secret key the rendered config mounts at file.
func mountedSecret(rendered renderedConfig, file string) (secretFile, bool) {
	for _, f := range rendered.Secrets {
		if path.Join(secretsDir, f.File) == file {
			return f, true
		}
	}
	return secretFile{}, false
}

// resolveRealmConnection derives the realm's Redis connection from its rendered config.
func resolveRealmConnection(ctx context.Context, c client.Reader, realm *authv1.AuthRealm) (realmConnection, *problem, error) {
	rendered := renderConfig(realm)
	if rendered.Config.Redis == nil {
		// renderConfig always renders a Redis; a realm without one could not hold clients.
		return realmConnection{}, &problem{authv1.ReasonRealmNotReady, "the realm renders no Redis"}, nil
	}
	conn := realmConnection{Redis: *rendered.Config.Redis}
	if tls := conn.Redis.TLS; tls != nil {
		copied := *tls
		conn.Redis.TLS = &copied
	}
	read := func(file string) ([]byte, *problem, error) {
		f, ok := mountedSecret(rendered, file)
		if !ok {
			return nil, nil, fmt.Errorf("rendered config of AuthRealm %s/%s reads %s, which no Secret is mounted at", realm.Namespace, realm.Name, file)
		}
		return secretValue(ctx, c, realm.Namespace, f)
	}
	if f := conn.Redis.Password.File; f != "" {
		v, p, err := read(f)
		if p != nil || err != nil {
			return realmConnection{}, p, err
		}
		// Trimmed as config.Secret.Read trims the mounted file, so both sides send one password.
		conn.Credentials.Password = strings.TrimSpace(string(v))
	}
	if tls := conn.Redis.TLS; tls != nil && tls.CAFile != "" {
		v, p, err := read(tls.CAFile)
		if p != nil || err != nil {
			return realmConnection{}, p, err
		}
		conn.Credentials.CA = v
	}
	return conn, nil, nil
}

// resolveTokenHasher builds the hasher the realm's servers build from the same key, so a
// hash the operator registers is the hash a server computes from the presented token.
func resolveTokenHasher(ctx context.Context, c client.Reader, realm *authv1.AuthRealm) (*token.Hasher, *problem, error) {
	rendered := renderConfig(realm)
	f, ok := mountedSecret(rendered, rendered.Config.TokenHashKey.File)
	if !ok {
		return nil, nil, fmt.Errorf("rendered config of AuthRealm %s/%s mounts no token hash key", realm.Namespace, realm.Name)
	}
	v, p, err := secretValue(ctx, c, realm.Namespace, f)
	if p != nil || err != nil {
		return nil, p, err
	}
	// Trimmed as token.NewHasherFromConfig's Secret.Read trims the mounted file.
	h, err := token.NewHasher([]byte(strings.TrimSpace(string(v))))
	if err != nil {
		return nil, &problem{authv1.ReasonRealmNotReady,
			fmt.Sprintf("key %q of Secret %s/%s is not a usable token hash key (%v): delete the Secret so the operator generates a new one (this ends all sessions)", f.Key, realm.Namespace, f.Secret, err)}, nil
	}
	return h, nil, nil
}

// realmRegistries keeps one Redis store per realm, keyed by the realm and checked against its
// connection settings: every DeviceClient of a realm shares one connection pool, a change of
// the realm's Redis (address, password, CA, key prefix) replaces the store, and a deleted
// realm's store is closed. A store replaced while another reconcile still uses it fails that
// reconcile with ErrUnavailable, which retries it on the new one.
type realmRegistries struct {
	mu     sync.Mutex
	stores map[types.NamespacedName]*cachedRegistry
	closed bool
}

type cachedRegistry struct {
	fingerprint string
	store       *redisstore.Store
}

var errRegistriesClosed = fmt.Errorf("%w: the operator is shutting down", store.ErrUnavailable)

// get returns the realm's store for conn, opening it (or replacing a stale one) as needed.
// Opening does not contact Redis; the first call on the store does.
func (r *realmRegistries) get(realm types.NamespacedName, conn realmConnection) (registry, error) {
	fp := conn.fingerprint()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errRegistriesClosed
	}
	if c, ok := r.stores[realm]; ok {
		if c.fingerprint == fp {
			return c.store, nil
		}
		_ = c.store.Close() // a stale client: its error says nothing about the new settings
		delete(r.stores, realm)
	}
	s, err := redisstore.OpenWithCredentials(&conn.Redis, conn.Credentials)
	if err != nil {
		return nil, err
	}
	if r.stores == nil {
		r.stores = map[types.NamespacedName]*cachedRegistry{}
	}
	r.stores[realm] = &cachedRegistry{fingerprint: fp, store: s}
	return s, nil
}

// lookup returns the store kept for a realm, or nil. It serves a realm that is gone, whose
// connection settings can no longer be derived.
func (r *realmRegistries) lookup(realm types.NamespacedName) registry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.stores[realm]; ok && !r.closed {
		return c.store
	}
	return nil
}

// forget closes and drops the store of a realm that no longer exists.
func (r *realmRegistries) forget(realm types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.stores[realm]; ok {
		_ = c.store.Close()
		delete(r.stores, realm)
	}
}

// close closes every store; later calls to get fail with ErrUnavailable.
func (r *realmRegistries) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	var errs []error
	for k, c := range r.stores {
		if err := c.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close Redis of realm %s: %w", k, err))
		}
		delete(r.stores, k)
	}
	return errors.Join(errs...)
}
