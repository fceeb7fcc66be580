package controllers

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// secretReader serves Secrets from a map, as the API server (values) and the manager's
// metadata cache (versions) would, and counts the value reads.
type secretReader struct {
	secrets map[string]*corev1.Secret
	fail    map[string]error // a transient error for a Secret's value
	reads   int
}

func (s *secretReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	sec, ok := s.secrets[key.Name]
	switch o := obj.(type) {
	case *metav1.PartialObjectMetadata:
		if !ok {
			return kerrors.NewNotFound(corev1.Resource("secrets"), key.Name)
		}
		o.ObjectMeta = *sec.ObjectMeta.DeepCopy()
	case *corev1.Secret:
		s.reads++
		if err := s.fail[key.Name]; err != nil {
			return err
		}
		if !ok {
			return kerrors.NewNotFound(corev1.Resource("secrets"), key.Name)
		}
		sec.DeepCopyInto(o)
	default:
		return errors.New("not a Secret")
	}
	return nil
}

func (s *secretReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("not listed")
}

// put creates or edits a Secret, bumping its resourceVersion as the API server does.
func (s *secretReader) put(name string, data map[string]string) {
	sec := s.secrets[name]
	if sec == nil {
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "auth", Name: name}}
		s.secrets[name] = sec
	}
	rv, _ := strconv.Atoi(sec.ResourceVersion)
	sec.ResourceVersion = strconv.Itoa(rv + 1)
	sec.Data = map[string][]byte{}
	for k, v := range data {
		sec.Data[k] = []byte(v)
	}
}

// TestRealmAccessDerivedOncePerVersion: the clients of a realm share one access, rendered once
// per generation of the realm and read from its Secrets once per version of them; an edited
// Secret, a new generation and a Secret that appears are each noticed on the next reconcile.
func TestRealmAccessDerivedOncePerVersion(t *testing.T) {
	ctx := t.Context()
	key := strings.Repeat("k", 32)
	secrets := &secretReader{secrets: map[string]*corev1.Secret{}}
	secrets.put("realm-keys", map[string]string{keyTokenHashKey: key + "\n", keyRedisPassword: "pw1\n"})
	realm := &authv1.AuthRealm{ObjectMeta: metav1.ObjectMeta{Namespace: "auth", Name: "realm", UID: "uid-1", Generation: 1}}
	var cache realmAccessCache

	const clients = 10
	first, err := cache.get(ctx, secrets, secrets, realm)
	if err != nil || first.connProblem != nil || first.hasherProblem != nil {
		t.Fatalf("access = %+v, %v", first, err)
	}
	for range clients - 1 {
		acc, err := cache.get(ctx, secrets, secrets, realm)
		if err != nil || acc != first {
			t.Fatalf("a later client got another access (%v)", err)
		}
	}
	if cache.renders != 1 || secrets.reads != 1 {
		t.Errorf("%d client reconciles rendered the realm %d times and read its keys Secret %d times, want once each", clients, cache.renders, secrets.reads)
	}
	if first.conn.Password != "pw1" || first.conn.Redis.Addresses[0] != "realm-redis.auth.svc:6379" {
		t.Errorf("connection = %+v", first.conn)
	}

	// An edited Secret: its new version is read, without rendering the realm again.
	secrets.put("realm-keys", map[string]string{keyTokenHashKey: key, keyRedisPassword: "pw2"})
	edited, _ := cache.get(ctx, secrets, secrets, realm)
	if edited.conn.Password != "pw2" || secrets.reads != 2 || cache.renders != 1 {
		t.Errorf("after an edit: password %q, %d reads, %d renders; want pw2, 2, 1", edited.conn.Password, secrets.reads, cache.renders)
	}

	// A new generation (an external Redis with a password Secret not created yet) is rendered
	// again; the missing Secret is a problem, kept until the Secret appears.
	realm.Generation = 2
	realm.Spec.Redis = &authv1.RedisSpec{External: &authv1.ExternalRedisSpec{
		Addresses: []string{"redis:6379"}, PasswordSecretRef: &authv1.SecretKeyRef{Name: "redis-auth", Key: "password"},
	}}
	for range 2 {
		acc, _ := cache.get(ctx, secrets, secrets, realm)
		if acc.connProblem == nil || !strings.Contains(acc.connProblem.Message, "redis-auth") {
			t.Fatalf("a missing password Secret: access %+v", acc)
		}
	}
	if cache.renders != 2 || secrets.reads != 4 {
		t.Errorf("a new generation: %d renders and %d reads, want 2 and 4 (both Secrets once)", cache.renders, secrets.reads)
	}
	secrets.put("redis-auth", map[string]string{"password": "ext"})
	acc, _ := cache.get(ctx, secrets, secrets, realm)
	if acc.connProblem != nil || acc.conn.Password != "ext" || acc.conn.Redis.Addresses[0] != "redis:6379" {
		t.Errorf("after the password Secret appeared: %+v", acc)
	}

	// A transient failure to read the key leaves app clients working and is not kept.
	secrets.put("realm-keys", map[string]string{keyTokenHashKey: key})
	secrets.fail = map[string]error{"realm-keys": errors.New("timeout")}
	if acc, _ := cache.get(ctx, secrets, secrets, realm); acc.hasherErr == nil || acc.connProblem != nil {
		t.Errorf("a failed key read: %+v", acc)
	}
	secrets.fail = nil
	if acc, _ := cache.get(ctx, secrets, secrets, realm); acc.hasherErr != nil || acc.hasher == nil {
		t.Errorf("the failed read was kept: %+v", acc)
	}

	// A realm deleted and created again under its name is rendered again.
	realm.UID, realm.Generation = "uid-2", 1
	renders := cache.renders
	if _, err := cache.get(ctx, secrets, secrets, realm); err != nil || cache.renders != renders+1 {
		t.Errorf("a re-created realm: %v, %d renders, want %d", err, cache.renders, renders+1)
	}
}
