package controllers

import (
	"cmp"
	"context"
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// The watches of the DeviceClient reconciler: what enqueues a client besides its own changes.

// SetupWithManager registers the controller, its indexes and its watches, and closes the
// realms' Redis connections when the manager stops.
func (r *DeviceClientReconciler) SetupWithManager(mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	for name, extract := range map[string]func(*authv1.DeviceClient) []string{
		indexClientRealm: func(dc *authv1.DeviceClient) []string { return []string{realmKeyOf(dc).String()} },
		indexClientClaim: func(dc *authv1.DeviceClient) []string { return []string{claimKey(dc)} },
		indexClientSecret: func(dc *authv1.DeviceClient) []string {
			if !isDevice(dc) {
				return nil
			}
			return []string{credentialsSecretName(dc)}
		},
	} {
		if err := idx.IndexField(context.Background(), &authv1.DeviceClient{}, name, func(o client.Object) []string {
			return extract(o.(*authv1.DeviceClient))
		}); err != nil {
			return fmt.Errorf("index DeviceClients by %s: %w", name, err)
		}
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		return r.registries.Close()
	})); err != nil {
		return fmt.Errorf("add Redis connection closer: %w", err)
	}
	// The Secrets a realm's access is read from are watched as metadata below: their
	// versions are in the cache, their values are not.
	r.secretMetadata = mgr.GetCache()
	specChanged := predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{})
	// controller-runtime's default backoff grows to 16 minutes; capped at the resync period,
	// a client whose Redis was down is verified again no later than a healthy one would be.
	rateLimiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, r.resyncPeriod()),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
	return ctrl.NewControllerManagedBy(mgr).
		Named("deviceclient").
		WithOptions(controller.Options{RateLimiter: rateLimiter, MaxConcurrentReconciles: cmp.Or(r.Workers, DefaultClientWorkers)}).
		For(&authv1.DeviceClient{}, builder.WithPredicates(specChanged)).
		Owns(&corev1.Secret{}, builder.OnlyMetadata).
		Watches(&authv1.AuthRealm{}, handler.EnqueueRequestsFromMapFunc(r.clientsOfRealm), builder.WithPredicates(predicate.Or(specChanged, redisReadyChanged))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.clientsUsingSecret), builder.OnlyMetadata).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.clientsInNamespace), builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Watches(&authv1.DeviceClient{}, handler.EnqueueRequestsFromMapFunc(r.otherClaimants)).
		Complete(r)
}

// clientsOfRealm maps a realm to every DeviceClient naming it, in any namespace.
func (r *DeviceClientReconciler) clientsOfRealm(ctx context.Context, o client.Object) []reconcile.Request {
	return r.listRequests(ctx, client.MatchingFields{indexClientRealm: client.ObjectKeyFromObject(o).String()})
}

// clientsUsingSecret maps a Secret to the DeviceClients it holds credentials for, and, when a
// realm mounts it (its keys, its Redis password or CA), to every client of that realm.
func (r *DeviceClientReconciler) clientsUsingSecret(ctx context.Context, o client.Object) []reconcile.Request {
	reqs := r.listRequests(ctx, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexClientSecret: o.GetName()})
	var realms authv1.AuthRealmList
	if err := r.Client.List(ctx, &realms, client.InNamespace(o.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "list realms of a Secret's namespace", "secret", o.GetName())
		return reqs
	}
	for i := range realms.Items {
		realm := &realms.Items[i]
		for _, f := range renderConfig(realm).Secrets {
			if f.Secret == o.GetName() {
				reqs = append(reqs, r.clientsOfRealm(ctx, realm)...)
				break
			}
		}
	}
	return reqs
}

// clientsInNamespace maps a namespace whose labels changed to its DeviceClients (a realm's
// selector may admit or refuse them now) and to the clients they contend with for a client id.
func (r *DeviceClientReconciler) clientsInNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	var list authv1.DeviceClientList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetName())); err != nil {
		log.FromContext(ctx).Error(err, "list DeviceClients of a namespace", "namespace", o.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		reqs = append(reqs, r.otherClaimants(ctx, &list.Items[i])...)
	}
	return reqs
}

// otherClaimants maps a DeviceClient to the others claiming its client id in its realm: its
// creation, deletion or move can hand the registration to one of them.
func (r *DeviceClientReconciler) otherClaimants(ctx context.Context, o client.Object) []reconcile.Request {
	dc, ok := o.(*authv1.DeviceClient)
	if !ok {
		return nil
	}
	var reqs []reconcile.Request
	for _, req := range r.listRequests(ctx, client.MatchingFields{indexClientClaim: claimKey(dc)}) {
		if req.NamespacedName != client.ObjectKeyFromObject(dc) {
			reqs = append(reqs, req)
		}
	}
	return reqs
}

func (r *DeviceClientReconciler) listRequests(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	var list authv1.DeviceClientList
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		log.FromContext(ctx).Error(err, "list DeviceClients to enqueue")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// redisReadyChanged passes a realm whose RedisReady condition changed status: the clients
// that waited for its managed Redis (connectRealm) go on at once.
var redisReadyChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, okOld := e.ObjectOld.(*authv1.AuthRealm)
		cur, okNew := e.ObjectNew.(*authv1.AuthRealm)
		if !okOld || !okNew {
			return false
		}
		return apimeta.IsStatusConditionTrue(old.Status.Conditions, authv1.ConditionRedisReady) !=
			apimeta.IsStatusConditionTrue(cur.Status.Conditions, authv1.ConditionRedisReady)
	},
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}
