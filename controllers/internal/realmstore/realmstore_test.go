package realmstore

import (
	"errors"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
)

// TestConnFingerprint: every setting that reaches the client changes the fingerprint, so a
// cached client is replaced when any of them changes, and nothing else does.
func TestConnFingerprint(t *testing.T) {
	base := Conn{
		Redis:    config.Redis{Mode: config.RedisStandalone, Addresses: []string{"redis:6379"}, KeyPrefix: "latch:"},
		Password: "p", CA: []byte("ca"),
	}
	fp := base.Fingerprint()
	if base.Fingerprint() != fp {
		t.Fatal("the fingerprint is not deterministic")
	}
	for name, edit := range map[string]func(*Conn){
		"address":  func(c *Conn) { c.Redis.Addresses = []string{"redis-2:6379"} },
		"prefix":   func(c *Conn) { c.Redis.KeyPrefix = "other:" },
		"password": func(c *Conn) { c.Password = "q" },
		"CA":       func(c *Conn) { c.CA = []byte("other ca") },
		"TLS":      func(c *Conn) { c.Redis.TLS = &config.TLS{ServerName: "redis"} },
		"mode":     func(c *Conn) { c.Redis.Mode = config.RedisCluster },
	} {
		c := base
		c.Redis.Addresses = slices.Clone(base.Redis.Addresses)
		edit(&c)
		if c.Fingerprint() == fp {
			t.Errorf("a change of the %s keeps the fingerprint", name)
		}
	}
}

// TestPool: one store per realm, shared while the realm's connection settings stay the same,
// replaced (and the old one closed) when they change, closed when forgotten. Opening a store
// does not contact Redis, so no server is needed.
func TestPool(t *testing.T) {
	var pool Pool
	realmA := types.NamespacedName{Namespace: "auth", Name: "a"}
	realmB := types.NamespacedName{Namespace: "auth", Name: "b"}
	conn := Conn{Redis: config.Redis{Mode: config.RedisStandalone, Addresses: []string{"127.0.0.1:1"}, KeyPrefix: "a:"}}
	ctx := t.Context()

	first, err := pool.Get(realmA, conn)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := pool.Get(realmA, conn)
	if again != first {
		t.Error("the same settings opened a second store")
	}
	if _, err := pool.Get(realmB, conn); err != nil || pool.size() != 2 {
		t.Fatalf("a second realm: %v, %d stores", err, pool.size())
	}

	changed := conn
	changed.Password = "rotated"
	replaced, _ := pool.Get(realmA, changed)
	if replaced == first || pool.size() != 2 {
		t.Fatalf("a new password kept the old store (%d stores)", pool.size())
	}
	if _, err := first.ListDeviceTokens(ctx, "c", time.Now()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("the replaced store is still open: %v", err)
	}
	if pool.Lookup(realmA) != replaced {
		t.Error("lookup does not return the current store")
	}

	pool.Forget(realmA)
	if pool.Lookup(realmA) != nil || pool.size() != 1 {
		t.Errorf("forget left the store (%d stores)", pool.size())
	}
	if _, err := replaced.ListDeviceTokens(ctx, "c", time.Now()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a forgotten store is still open: %v", err)
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Get(realmB, conn); !errors.Is(err, store.ErrUnavailable) || pool.size() != 0 {
		t.Errorf("get after close: %v, %d stores", err, pool.size())
	}
}

// size is the number of open stores (for the tests).
func (p *Pool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.stores)
}
