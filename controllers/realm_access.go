package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
	"github.com/latchauth/latch/controllers/internal/realmstore"
)

// clientRegistry is the part of a realm's store a DeviceClient reconcile writes: client
// registrations. realmstore opens the realm's store that implements it.
type clientRegistry interface {
	PutAppClient(ctx context.Context, c store.AppClient) error
	GetAppClient(ctx context.Context, id string) (store.AppClient, error)
	DeleteAppClient(ctx context.Context, id string) error
	PutDeviceToken(ctx context.Context, t store.DeviceToken, now time.Time) error
	ListDeviceTokens(ctx context.Context, clientID string, now time.Time) ([]store.DeviceToken, error)
	DeleteDeviceToken(ctx context.Context, clientID, hash string) error
	DeleteAllDeviceTokens(ctx context.Context, clientID string, now time.Time) (int, error)
	RevokeClientSessions(ctx context.Context, clientID string, reason store.Reason, now time.Time) ([]store.SessionRef, error)
}

// realmAccess is what a DeviceClient reconcile needs of its realm: how to reach its store (the
// client config its servers run with, and the password and CA they read from mounted files,
// read here from the same Secrets) and the hasher its servers build from the same key, so a
// hash the operator registers is the hash a server computes from the presented token.
type realmAccess struct {
	conn realmstore.Conn
	// connProblem says why conn could not be derived; nothing else is then set.
	connProblem *problem
	hasher      *token.Hasher
	// hasherProblem and hasherErr say why there is no hasher: only device clients need one,
	// so neither stops an app client. An access with hasherErr (transient) is not cached.
	hasherProblem *problem
	hasherErr     error
}

// accessPlan is what a realm's rendered config says about reaching its store. It depends on
// the spec alone, so it is rendered once per generation of the realm.
type accessPlan struct {
	uid        types.UID
	generation int64
	redis      *config.Redis // nil when the realm renders none
	secrets    accessSecrets
	// names are the Secrets the access is read from, each once.
	names []string
}

func planAccess(realm *authv1.AuthRealm) accessPlan {
	rendered := renderConfig(realm)
	p := accessPlan{uid: realm.UID, generation: realm.Generation, redis: rendered.Config.Redis, secrets: rendered.Access}
	for _, f := range []*secretFile{p.secrets.RedisPassword, p.secrets.RedisCA, &p.secrets.TokenHashKey} {
		if f != nil && !slices.Contains(p.names, f.Secret) {
			p.names = append(p.names, f.Secret)
		}
	}
	return p
}

// realmAccessCache keeps each realm's access, derived once per generation of the realm and
// per version of the Secrets it is read from. A reconcile checks those versions in the
// manager's metadata cache of Secrets, kept current by the watch that enqueues a realm's
// clients when one of its Secrets changes, and reads the values only when one changed: an
// edited password or key is noticed by the reconciles it enqueues, as when every reconcile
// read them.
type realmAccessCache struct {
	mu      sync.Mutex
	realms  map[types.NamespacedName]*accessEntry
	renders int // realm configs rendered, for the tests
}

type accessEntry struct {
	plan accessPlan
	// versions are the resourceVersions of plan.names ("" for a missing Secret) that access
	// was derived from; access is nil until derived.
	versions []string
	access   *realmAccess
}

// get returns the access of realm. values reads Secrets (the API server: they are not
// cached); versions reads their metadata.
func (c *realmAccessCache) get(ctx context.Context, values, versions client.Reader, realm *authv1.AuthRealm) (*realmAccess, error) {
	key := client.ObjectKeyFromObject(realm)
	plan, cached := c.lookup(key, realm)
	if cached != nil {
		vs, err := secretVersions(ctx, versions, realm.Namespace, plan.names)
		if err == nil && slices.Equal(vs, cached.versions) {
			return cached.access, nil
		}
		// Changed, or not known here: read the values.
	}
	acc, vs, err := deriveAccess(ctx, values, realm.Namespace, plan)
	if err != nil {
		return nil, err
	}
	if acc.hasherErr == nil {
		c.store(key, &accessEntry{plan: plan, versions: vs, access: acc})
	}
	return acc, nil
}

// lookup returns the plan for realm's generation, rendering it if the cache has none, and
// the entry derived for it, if any.
func (c *realmAccessCache) lookup(key types.NamespacedName, realm *authv1.AuthRealm) (accessPlan, *accessEntry) {
	c.mu.Lock()
	e := c.realms[key]
	c.mu.Unlock()
	if e != nil && e.plan.uid == realm.UID && e.plan.generation == realm.Generation {
		if e.access == nil {
			return e.plan, nil
		}
		return e.plan, e
	}
	plan := planAccess(realm)
	c.store(key, &accessEntry{plan: plan})
	c.mu.Lock()
	c.renders++
	c.mu.Unlock()
	return plan, nil
}

// store keeps e unless the cache holds a later generation of the same realm (a reconcile
// that read the realm from an older cache state finished last).
func (c *realmAccessCache) store(key types.NamespacedName, e *accessEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.realms[key]; old != nil && old.plan.uid == e.plan.uid &&
		(old.plan.generation > e.plan.generation || (old.plan.generation == e.plan.generation && e.access == nil && old.access != nil)) {
		return
	}
	if c.realms == nil {
		c.realms = map[types.NamespacedName]*accessEntry{}
	}
	c.realms[key] = e
}

// forget drops a realm that no longer exists.
func (c *realmAccessCache) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.realms, key)
}

// secretVersions reads the resourceVersion of each named Secret, "" for a missing one.
func secretVersions(ctx context.Context, c client.Reader, ns string, names []string) ([]string, error) {
	vs := make([]string, len(names))
	for i, name := range names {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, m)
		switch {
		case kerrors.IsNotFound(err):
		case err != nil:
			return nil, err
		default:
			vs[i] = m.ResourceVersion
		}
	}
	return vs, nil
}

// deriveAccess reads the Secrets of plan and derives the access from their values, with the
// resourceVersions it read. A missing Secret or key is a problem for the user (or, for the
// generated keys, a realm not reconciled yet); other errors are transient.
func deriveAccess(ctx context.Context, c client.Reader, ns string, plan accessPlan) (*realmAccess, []string, error) {
	secrets := make(map[string]*corev1.Secret, len(plan.names))
	failed := map[string]error{}
	versions := make([]string, len(plan.names))
	for i, name := range plan.names {
		sec := &corev1.Secret{}
		err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, sec)
		switch {
		case kerrors.IsNotFound(err):
		case err != nil:
			failed[name] = fmt.Errorf("get Secret %s/%s: %w", ns, name, err)
		default:
			secrets[name], versions[i] = sec, sec.ResourceVersion
		}
	}
	value := func(f secretFile) ([]byte, *problem, error) {
		if err := failed[f.Secret]; err != nil {
			return nil, nil, err
		}
		sec, ok := secrets[f.Secret]
		if !ok {
			return nil, &problem{authv1.ReasonRealmNotReady,
				fmt.Sprintf("Secret %s/%s (%s of the realm) does not exist yet", ns, f.Secret, f.Field)}, nil
		}
		v, ok := sec.Data[f.Key]
		if !ok || len(v) == 0 {
			return nil, &problem{authv1.ReasonRealmNotReady,
				fmt.Sprintf("Secret %s/%s (%s of the realm) has no key %q", ns, f.Secret, f.Field, f.Key)}, nil
		}
		return v, nil, nil
	}

	acc := &realmAccess{}
	if plan.redis == nil {
		// renderConfig always renders a Redis; a realm without one could not hold clients.
		acc.connProblem = &problem{authv1.ReasonRealmNotReady, "the realm renders no Redis"}
		return acc, versions, nil
	}
	acc.conn.Redis = *plan.redis
	acc.conn.Redis.Addresses = slices.Clone(plan.redis.Addresses)
	if tls := plan.redis.TLS; tls != nil {
		copied := *tls
		acc.conn.Redis.TLS = &copied
	}
	if f := plan.secrets.RedisPassword; f != nil {
		v, p, err := value(*f)
		if err != nil {
			return nil, nil, err
		}
		if p != nil {
			return &realmAccess{connProblem: p}, versions, nil
		}
		// Trimmed as config.Secret.Read trims the mounted file, so both sides send one password.
		acc.conn.Password = strings.TrimSpace(string(v))
	}
	if f := plan.secrets.RedisCA; f != nil {
		v, p, err := value(*f)
		if err != nil {
			return nil, nil, err
		}
		if p != nil {
			return &realmAccess{connProblem: p}, versions, nil
		}
		acc.conn.CA = v
	}

	f := plan.secrets.TokenHashKey
	v, p, err := value(f)
	switch {
	case err != nil:
		acc.hasherErr = err
	case p != nil:
		acc.hasherProblem = p
	default:
		// Trimmed as token.NewHasherFromConfig's Secret.Read trims the mounted file.
		h, err := token.NewHasher([]byte(strings.TrimSpace(string(v))))
		if err != nil {
			acc.hasherProblem = &problem{authv1.ReasonRealmNotReady,
				fmt.Sprintf("key %q of Secret %s/%s is not a usable token hash key (%v): delete the Secret so the operator generates a new one (this ends all sessions)", f.Key, ns, f.Secret, err)}
		}
		acc.hasher = h
	}
	return acc, versions, nil
}
