package controllers

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchauth/latch/authserver/token"
)

// editBeforeApply is the manager's client, except that it runs edit just before the second
// read of one Secret: after a reconcile has read the credentials from it, before it applies
// them back.
type editBeforeApply struct {
	client.Client
	secret types.NamespacedName
	reads  atomic.Int64
	edit   func()
}

func (c *editBeforeApply) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok && key == c.secret && c.reads.Add(1) == 2 {
		c.edit()
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// TestDeviceClientEditDuringReconcile: a token written into the credentials Secret while a
// reconcile is between reading the Secret and applying it is not overwritten with the token
// that reconcile read (it was, and the edited token was then never registered): the apply
// fails on the Secret's changed version and the next reconcile registers the edit.
func TestDeviceClientEditDuringReconcile(t *testing.T) {
	t.Parallel()
	cr := newClientRealm(t)
	dc := createClient(t, newDeviceClient(cr.ns, "racer", "realm"))
	waitReady(t, dc)
	sec := credentialsOf(t, dc)
	secret, _ := token.New()
	edited := "racer." + secret

	racing := &editBeforeApply{Client: cached, secret: keyOf(sec), edit: func() {
		sec.Data[credKeyToken] = []byte(edited)
		if err := k8s.Update(context.Background(), sec); err != nil {
			t.Errorf("edit the Secret: %v", err)
		}
	}}
	r := &DeviceClientReconciler{Client: racing, Scheme: testScheme, ResyncPeriod: testClientResync}
	t.Cleanup(func() { _ = r.registries.Close() })
	_, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: keyOf(dc)})
	if n := racing.reads.Load(); n < 2 {
		t.Fatalf("the reconcile read the credentials Secret %d times: the edit was not made between its read and its apply", n)
	}
	if !kerrors.IsConflict(err) {
		t.Errorf("the reconcile that read the Secret before the edit returned %v, want a conflict on its apply", err)
	}
	if got := tokenOf(credentialsOf(t, dc)); got != edited {
		t.Fatal("a reconcile wrote back the token it had read over the token edited meanwhile")
	}
	eventually(t, waitFor, func() error {
		if _, err := cr.lookup(t, edited); err != nil {
			return fmt.Errorf("the edited token is not registered: %w", err)
		}
		return nil
	})
	waitReady(t, dc)
}
