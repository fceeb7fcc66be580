package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
	"github.com/latchauth/latch/controllers/internal/realmstore"
)

// Indexes of DeviceClients: a realm, a Secret or another claimant of the same client id finds
// the clients it concerns without listing every client.
const (
	indexClientRealm  = "latch.dev/client-realm"
	indexClientClaim  = "latch.dev/client-claim"
	indexClientSecret = "latch.dev/client-secret"
)

// DefaultClientResyncPeriod is how often, by default, each DeviceClient's registration is
// verified in Redis and rewritten if Redis lost it.
const DefaultClientResyncPeriod = time.Minute

// DefaultClientWorkers is how many DeviceClients are reconciled at once by default. A
// reconcile waits mostly on the API server and Redis, so a few in parallel shorten the queue
// a cluster's worth of clients forms at start-up (BENCHMARKS.md, operator). Clients that claim
// one client id stay consistent in parallel: each decides the holder from the same cache, and
// the holder's next resync repairs whatever a handover raced.
const DefaultClientWorkers = 4

// DeviceClientReconciler registers each DeviceClient in its realm's Redis, where the realm's
// servers read client registrations: the operator is their only writer. For device clients it
// mints, rotates and revokes tokens (or registers the user's), for app clients it registers the
// id and roles; it verifies the registration on every resync and rewrites what Redis lost.
type DeviceClientReconciler struct {
	Client client.Client
	Scheme *runtime.Scheme
	// Recorder emits an event for every change of a registration (and for none else).
	Recorder events.EventRecorder
	// ResyncPeriod is how often a registration is verified in Redis; zero means
	// DefaultClientResyncPeriod. It bounds how long a registration Redis lost stays lost.
	ResyncPeriod time.Duration
	// Workers is how many clients are reconciled at once; zero means DefaultClientWorkers.
	Workers int
	// Now is the clock; tests inject one.
	Now func() time.Time

	// registries holds one connection per realm, shared by its clients.
	registries realmstore.Pool
	// access holds what each realm's clients need to reach its store, derived once per
	// generation of the realm and version of its Secrets.
	access realmAccessCache
	// secretMetadata reads Secrets' metadata: the manager's cache, set by SetupWithManager;
	// nil reads it through Client.
	secretMetadata client.Reader
}

// The finalizer and status are patched, never updated; deviceclients/finalizers lets the
// credentials Secret's owner reference block its owner's deletion. Secrets are applied
// (create, patch) and a stale one deleted; namespaces are read for clientNamespaceSelector.
// +kubebuilder:rbac:groups=auth.latch.dev,resources=deviceclients,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=auth.latch.dev,resources=deviceclients/status,verbs=get;patch
// +kubebuilder:rbac:groups=auth.latch.dev,resources=deviceclients/finalizers,verbs=update
// +kubebuilder:rbac:groups=auth.latch.dev,resources=authrealms,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one client's registration in line with its spec and credentials and
// updates its status.
func (r *DeviceClientReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	dc := &authv1.DeviceClient{}
	if err := r.Client.Get(ctx, req.NamespacedName, dc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !dc.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, dc)
	}
	if !controllerutil.ContainsFinalizer(dc, deviceClientFinalizer) {
		// Before anything is registered, so that nothing registered can outlive the object.
		patch := client.MergeFromWithOptions(dc.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(dc, deviceClientFinalizer)
		if err := r.Client.Patch(ctx, dc, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	s := &clientScope{
		dc:       dc,
		realmKey: realmKeyOf(dc),
		now:      r.now(),
		apply:    newApplier(r.Client, r.Scheme),
	}
	steps := []func(context.Context, *clientScope) error{
		r.resolveRealm,
		r.connectRealm,
		r.reconcileRegistration,
		r.removeStaleCredentials,
	}
	var err error
	for _, step := range steps {
		if err = step(ctx, s); err != nil || s.stopped {
			break // later steps depend on earlier ones
		}
	}
	if statusErr := r.updateStatus(ctx, s, err); statusErr != nil {
		err = errors.Join(err, statusErr)
	}
	if isNamespaceTerminating(err) {
		// The credentials Secret cannot be created in a namespace being deleted, and the
		// DeviceClient is about to be deleted with it.
		return ctrl.Result{}, nil
	}
	if err != nil {
		// Transient: the workqueue backs off. Nothing was deleted because of it.
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: requeueAfter(s.now, r.resyncPeriod(), s.deadlines...)}, nil
}

// clientScope carries what one reconcile has learned from step to step.
type clientScope struct {
	dc       *authv1.DeviceClient
	realmKey types.NamespacedName
	now      time.Time
	apply    *applier

	realm    *authv1.AuthRealm
	registry clientRegistry
	hasher   *token.Hasher

	refsProblem, realmProblem, credentialsProblem *problem
	credentialsOK                                 bool
	// credentialsVersion is the resourceVersion of the operator's credentials Secret as read.
	credentialsVersion string
	registration       *registrationState
	// stopped ends the reconcile after a step that reported a problem or a wait.
	stopped bool
	// deadlines are times at which the client needs a reconcile before the next resync.
	deadlines []time.Time
}

func (r *DeviceClientReconciler) resolveRealm(ctx context.Context, s *clientScope) error {
	realm := &authv1.AuthRealm{}
	err := r.Client.Get(ctx, s.realmKey, realm)
	switch {
	case kerrors.IsNotFound(err), err == nil && !realm.DeletionTimestamp.IsZero():
		s.refsProblem = &problem{authv1.ReasonRealmNotFound,
			fmt.Sprintf("AuthRealm %s does not exist (or is being deleted): create it, or delete this DeviceClient and create one naming an existing realm (spec.realmRef cannot change)", s.realmKey)}
		s.stopped = true
		return nil
	case err != nil:
		return fmt.Errorf("get AuthRealm %s: %w", s.realmKey, err)
	}
	admitted, p, err := r.admits(ctx, realm, s.dc.Namespace)
	if err != nil {
		return err
	}
	if p == nil && !admitted {
		p = &problem{authv1.ReasonNamespaceNotAdmitted, notAdmittedMessage(realm, s.dc.Namespace)}
	}
	if p != nil {
		// Nothing is written to, or removed from, a realm that does not admit this client:
		// its client id may be another namespace's.
		s.refsProblem, s.stopped = p, true
		return nil
	}
	holder, err := r.registrationHolder(ctx, realm, claimKey(s.dc))
	if err != nil {
		return err
	}
	if holder != nil && holder.UID != s.dc.UID {
		s.refsProblem = &problem{authv1.ReasonClientIDConflict,
			fmt.Sprintf("client id %q of AuthRealm %s is already registered by DeviceClient %s/%s, created earlier: set spec.clientID to another id (delete and re-create this DeviceClient: clientID cannot change)",
				clientIDOf(s.dc), s.realmKey, holder.Namespace, holder.Name)}
		s.stopped = true
		return nil
	}
	s.realm = realm
	return nil
}

// admits reports whether realm admits clients of namespace ns. A selector the realm's owner
// must fix is a problem; failing to read the namespace is transient.
func (r *DeviceClientReconciler) admits(ctx context.Context, realm *authv1.AuthRealm, ns string) (bool, *problem, error) {
	var nsLabels map[string]string
	if ns != realm.Namespace && realm.Spec.ClientNamespaceSelector != nil {
		n := &corev1.Namespace{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: ns}, n); err != nil {
			return false, nil, fmt.Errorf("get Namespace %s: %w", ns, err)
		}
		nsLabels = n.Labels
	}
	ok, err := admitsNamespace(realm, ns, nsLabels)
	if err != nil {
		return false, &problem{authv1.ReasonInvalidSpec, err.Error()}, nil
	}
	return ok, nil, nil
}

// registrationHolder returns the DeviceClient whose registration the claim (a client id in
// realm) is, or nil when no admitted, live DeviceClient claims it.
func (r *DeviceClientReconciler) registrationHolder(ctx context.Context, realm *authv1.AuthRealm, claim string) (*authv1.DeviceClient, error) {
	var list authv1.DeviceClientList
	if err := r.Client.List(ctx, &list, client.MatchingFields{indexClientClaim: claim}); err != nil {
		return nil, fmt.Errorf("list DeviceClients claiming %s: %w", claim, err)
	}
	claims := make([]claimant, 0, len(list.Items))
	for i := range list.Items {
		c := &list.Items[i]
		ok, p, err := r.admits(ctx, realm, c.Namespace)
		if err != nil {
			return nil, err
		}
		claims = append(claims, claimant{Client: c, Admitted: ok && p == nil})
	}
	return registrationHolder(claims), nil
}

func (r *DeviceClientReconciler) connectRealm(ctx context.Context, s *clientScope) error {
	if s.realm.Spec.ExternalRedis() == nil && !apimeta.IsStatusConditionTrue(s.realm.Status.Conditions, authv1.ConditionRedisReady) {
		// The managed Redis's Service name does not resolve before it exists, and the
		// cluster's DNS caches the "no such host" (kube-dns: 30 s): a lookup now would hold
		// back the realm's own servers, which start at the same moment, for that long. The
		// realm's RedisReady turning true brings this client back (deviceclient_watches.go).
		s.realmProblem = &problem{authv1.ReasonRealmNotReady, fmt.Sprintf("waiting for the realm's managed Redis (%s)", redisReadyMessage(s.realm))}
		s.stopped = true
		return nil
	}
	acc, err := r.realmAccess(ctx, s.realm)
	if err != nil {
		return err
	}
	if acc.connProblem != nil {
		s.realmProblem, s.stopped = acc.connProblem, true
		return nil
	}
	if s.registry, err = r.registries.Get(s.realmKey, acc.conn); err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return err
		}
		// A client config the realm's own servers could not use either.
		s.realmProblem = &problem{authv1.ReasonRealmNotReady, fmt.Sprintf("cannot use the realm's Redis settings: %v", err)}
		s.stopped = true
		return nil
	}
	if !isDevice(s.dc) {
		return nil
	}
	if acc.hasherErr != nil {
		return acc.hasherErr
	}
	if acc.hasherProblem != nil {
		s.realmProblem, s.stopped = acc.hasherProblem, true
		return nil
	}
	s.hasher = acc.hasher
	return nil
}

// realmAccess returns what the realm's clients need to reach its store.
func (r *DeviceClientReconciler) realmAccess(ctx context.Context, realm *authv1.AuthRealm) (*realmAccess, error) {
	versions := r.secretMetadata
	if versions == nil {
		versions = r.Client
	}
	return r.access.get(ctx, r.Client, versions, realm)
}

// updateStatus computes the status from what the reconcile learned and writes it if it changed.
func (r *DeviceClientReconciler) updateStatus(ctx context.Context, s *clientScope, reconcileErr error) error {
	st := computeDeviceClientStatus(clientObservation{
		Client:             s.dc,
		Realm:              s.realmKey,
		RefsProblem:        s.refsProblem,
		RealmProblem:       s.realmProblem,
		CredentialsProblem: s.credentialsProblem,
		CredentialsOK:      s.credentialsOK,
		Registration:       s.registration,
		Err:                reconcileErr,
		Now:                s.now,
	})
	return patchStatus(ctx, r.Client, s.dc, &s.dc.Status, st)
}

func (r *DeviceClientReconciler) event(obj runtime.Object, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, eventType, reason, action, note, args...)
	}
}

func (r *DeviceClientReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *DeviceClientReconciler) resyncPeriod() time.Duration {
	if r.ResyncPeriod > 0 {
		return r.ResyncPeriod
	}
	return DefaultClientResyncPeriod
}

// redisReadyMessage is the realm's RedisReady condition's message, or that it has none yet.
func redisReadyMessage(realm *authv1.AuthRealm) string {
	if c := apimeta.FindStatusCondition(realm.Status.Conditions, authv1.ConditionRedisReady); c != nil {
		return c.Message
	}
	return "the realm has no RedisReady condition yet"
}
