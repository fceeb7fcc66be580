package realmstore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
)

// Conn is how the operator reaches a realm's Redis: the very client config the realm's
// servers run with, and the secret values they read from mounted files, given here as values
// (the operator reads them from the same Secrets through the API).
type Conn struct {
	Redis config.Redis
	// Password authenticates to the data nodes; empty sends none.
	Password string
	// CA is a PEM bundle of trusted CAs, used when Redis.TLS is set.
	CA []byte
}

// Fingerprint identifies the connection settings: a change in any of them (an address, the
// password, the CA, the key prefix) means a new client.
func (c Conn) Fingerprint() string {
	h := sha256.New()
	b, _ := json.Marshal(c.Redis) // a config.Redis always marshals
	h.Write(b)
	fmt.Fprintf(h, "\x00%d\x00%s\x00", len(c.Password), c.Password)
	h.Write(c.CA)
	return hex.EncodeToString(h.Sum(nil))
}

// Pool keeps one Redis store per realm, keyed by the realm and checked against its
// connection settings: every DeviceClient of a realm shares one connection pool, a change of
// the realm's Redis (address, password, CA, key prefix) replaces the store, and a deleted
// realm's store is closed. A store replaced while another reconcile still uses it fails that
// reconcile with ErrUnavailable, which retries it on the new one. The zero Pool is ready.
type Pool struct {
	mu     sync.Mutex
	stores map[types.NamespacedName]*entry
	closed bool
}

type entry struct {
	fingerprint string
	store       *redisstore.Store
}

var errClosed = fmt.Errorf("%w: the operator is shutting down", store.ErrUnavailable)

// Get returns the realm's store for conn, opening it (or replacing a stale one) as needed.
// Opening does not contact Redis; the first call on the store does.
func (p *Pool) Get(realm types.NamespacedName, conn Conn) (store.Clients, error) {
	fp := conn.Fingerprint()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	if e, ok := p.stores[realm]; ok {
		if e.fingerprint == fp {
			return e.store, nil
		}
		_ = e.store.Close() // a stale client: its error says nothing about the new settings
		delete(p.stores, realm)
	}
	s, err := redisstore.OpenWithCredentials(&conn.Redis, redisstore.Credentials{Password: conn.Password, CA: conn.CA})
	if err != nil {
		return nil, err
	}
	if p.stores == nil {
		p.stores = map[types.NamespacedName]*entry{}
	}
	p.stores[realm] = &entry{fingerprint: fp, store: s}
	return s, nil
}

// Lookup returns the store kept for a realm, or nil. It serves a realm that is gone, whose
// connection settings can no longer be derived.
func (p *Pool) Lookup(realm types.NamespacedName) store.Clients {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.stores[realm]; ok && !p.closed {
		return e.store
	}
	return nil
}

// Forget closes and drops the store of a realm that no longer exists.
func (p *Pool) Forget(realm types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.stores[realm]; ok {
		_ = e.store.Close()
		delete(p.stores, realm)
	}
}

// Close closes every store; later calls to Get fail with ErrUnavailable.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []error
	for k, e := range p.stores {
		if err := e.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close Redis of realm %s: %w", k, err))
		}
		delete(p.stores, k)
	}
	return errors.Join(errs...)
}
