package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/store"
)

// The deletion path of the DeviceClient reconciler.

// deregisterTimeout bounds the one attempt to deregister a client through a realm that is
// gone: nothing retries it, so it must not hang the worker either.
const deregisterTimeout = 10 * time.Second

// reconcileDelete deregisters a deleted client, unless its deletion policy is Orphan or the
// registration is not its own, and then releases the object.
func (r *DeviceClientReconciler) reconcileDelete(ctx context.Context, dc *authv1.DeviceClient) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(dc, deviceClientFinalizer) {
		return ctrl.Result{}, nil
	}
	realmKey := realmKeyOf(dc)
	if err := r.deregister(ctx, dc, realmKey); err != nil {
		if statusErr := patchStatus(ctx, r.Client, dc, &dc.Status, deletionBlockedStatus(dc, realmKey, err, r.now())); statusErr != nil {
			err = errors.Join(err, statusErr)
		}
		return ctrl.Result{}, err
	}
	r.forgetRealmIfUnused(ctx, realmKey, dc)
	patch := client.MergeFromWithOptions(dc.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(dc, deviceClientFinalizer)
	if err := r.Client.Patch(ctx, dc, patch); err != nil && !kerrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

// deregister removes the client's registration: its app client record, every device token
// and every keyToken session opened with it, found through the client's indexes in Redis, so
// tokens are revoked even when the credentials Secret is already gone. An error keeps the
// finalizer and is retried.
func (r *DeviceClientReconciler) deregister(ctx context.Context, dc *authv1.DeviceClient, realmKey types.NamespacedName) error {
	id := clientIDOf(dc)
	if deletionPolicyOf(dc) == authv1.DeletionOrphan {
		r.event(dc, corev1.EventTypeNormal, "RegistrationOrphaned", "Deregister",
			"deletionPolicy is Orphan: the registration of client %s in realm %s is left in Redis", id, realmKey)
		return nil
	}
	realm := &authv1.AuthRealm{}
	err := r.Client.Get(ctx, realmKey, realm)
	switch {
	case kerrors.IsNotFound(err):
		return r.deregisterFromGoneRealm(ctx, dc, realmKey)
	case err != nil:
		return fmt.Errorf("get AuthRealm %s: %w", realmKey, err)
	}
	admitted, p, err := r.admits(ctx, realm, dc.Namespace)
	if err != nil {
		return err
	}
	if p != nil || !admitted {
		r.event(dc, corev1.EventTypeNormal, "DeregistrationSkipped", "Deregister",
			"realm %s does not admit namespace %s, so this DeviceClient registered nothing to remove", realmKey, dc.Namespace)
		return nil
	}
	if holder, err := r.registrationHolder(ctx, realm, claimKey(dc)); err != nil {
		return err
	} else if holder != nil && holder.UID != dc.UID {
		// The registration passes to the next claimant, which replaces this client's tokens
		// with its own; removing it here would undo that.
		r.event(dc, corev1.EventTypeNormal, "DeregistrationSkipped", "Deregister",
			"client id %s of realm %s passes to DeviceClient %s/%s", id, realmKey, holder.Namespace, holder.Name)
		return nil
	}
	giveUp := !realm.DeletionTimestamp.IsZero()
	acc, err := r.realmAccess(ctx, realm)
	if err == nil && acc.connProblem != nil {
		err = errors.New(acc.connProblem.Message)
	}
	var reg clientRegistry
	if err == nil {
		reg, err = r.registries.Get(realmKey, acc.conn)
	}
	if err == nil {
		err = r.removeRegistration(ctx, dc, reg, realmKey)
	}
	if err != nil && giveUp {
		// The realm and its Redis are going away: the registration goes with them.
		r.event(dc, corev1.EventTypeWarning, "DeregistrationAbandoned", "Deregister",
			"realm %s is being deleted and its Redis cannot be reached (%v): the registration of client %s is left to go with it", realmKey, err, id)
		return nil
	}
	return err
}

// deregisterFromGoneRealm tries once, through the connection kept from when the realm
// existed, to remove the registration from an external Redis that outlives its realm. Failure
// does not block the deletion: with the realm gone, nothing could ever make it succeed.
func (r *DeviceClientReconciler) deregisterFromGoneRealm(ctx context.Context, dc *authv1.DeviceClient, realmKey types.NamespacedName) error {
	reg := r.registries.Lookup(realmKey)
	if reg == nil {
		r.event(dc, corev1.EventTypeNormal, "DeregistrationSkipped", "Deregister",
			"AuthRealm %s no longer exists: there is no Redis to deregister client %s from", realmKey, clientIDOf(dc))
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, deregisterTimeout)
	defer cancel()
	if err := r.removeRegistration(ctx, dc, reg, realmKey); err != nil {
		r.event(dc, corev1.EventTypeWarning, "DeregistrationAbandoned", "Deregister",
			"AuthRealm %s no longer exists and its Redis cannot be reached (%v): the registration of client %s is left in it", realmKey, err, clientIDOf(dc))
	}
	return nil
}

// forgetRealmIfUnused closes a realm's connection once the last DeviceClient naming the
// realm is deleted: nothing else would, and a realm that is gone keeps it only for the
// deletions of its clients.
func (r *DeviceClientReconciler) forgetRealmIfUnused(ctx context.Context, realmKey types.NamespacedName, dc *authv1.DeviceClient) {
	var list authv1.DeviceClientList
	if err := r.Client.List(ctx, &list, client.MatchingFields{indexClientRealm: realmKey.String()}); err != nil {
		return // kept for now; a later deletion retries
	}
	for _, other := range list.Items {
		if other.UID != dc.UID {
			return
		}
	}
	r.registries.Forget(realmKey)
	r.access.forget(realmKey)
}

func (r *DeviceClientReconciler) removeRegistration(ctx context.Context, dc *authv1.DeviceClient, reg clientRegistry, realmKey types.NamespacedName) error {
	id := clientIDOf(dc)
	n, err := reg.DeleteAllDeviceTokens(ctx, id, r.now())
	if err != nil {
		return fmt.Errorf("revoke the device tokens of %s: %w", id, err)
	}
	// The registration goes first, so that (with clients.requireRegistered) no new session
	// can start while the client's sessions are being ended.
	if err := reg.DeleteAppClient(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("remove app client %s: %w", id, err)
	}
	ended, err := reg.RevokeClientSessions(ctx, id, store.ReasonClientDeleted, r.now())
	if err != nil {
		return fmt.Errorf("end the sessions of client %s: %w", id, err)
	}
	r.event(dc, corev1.EventTypeNormal, "Deregistered", "Deregister",
		"deregistered client %s from realm %s, revoked %d device tokens and ended %d sessions", id, realmKey, n, len(ended))
	return nil
}
