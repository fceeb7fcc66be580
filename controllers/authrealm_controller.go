package controllers

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// Index names: a realm is found from a Secret or ConfigMap it references without listing
// every realm.
const (
	indexSecretRefs    = "latch.dev/secret-refs"
	indexConfigMapRefs = "latch.dev/configmap-refs"
)

// AuthRealmReconciler turns each AuthRealm into its config, keys, server Deployment, Service
// and the optional children, and reports their state in status.
type AuthRealmReconciler struct {
	Client client.Client
	Scheme *runtime.Scheme
	// ServerImage is the auth-server image used when spec.image is empty.
	ServerImage string
	// Now is the clock; tests inject one.
	Now func() time.Time
	// Random fills generated keys; nil uses crypto/rand.
	Random func([]byte) error
	// Workers is how many realms are reconciled at once; zero means DefaultRealmWorkers.
	Workers int
	// OperatorNamespace is the namespace the operator's pods run in: a managed Redis's
	// NetworkPolicy admits the operator by this namespace and its label. Empty admits no
	// operator pod.
	OperatorNamespace string
}

// DefaultRealmWorkers is how many AuthRealms are reconciled at once by default. A realm's
// reconcile waits mostly on the API server (a dozen children); two in parallel keep realms
// Ready as fast as before while the DeviceClient workers share the operator (BENCHMARKS.md,
// operator). Each realm is still reconciled by one worker at a time (the work queue's rule).
const DefaultRealmWorkers = 2

// +kubebuilder:rbac:groups=auth.latch.dev,resources=authrealms,verbs=get;list;watch
// +kubebuilder:rbac:groups=auth.latch.dev,resources=authrealms/status,verbs=get;update;patch
// Secrets: the realm's keys Secret is created once and its derived key patched in when
// missing; the Secrets a realm names are read; all are watched as metadata. Nothing replaces
// (update) or deletes a Secret here.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=configmaps;serviceaccounts;services;persistentvolumeclaims,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies;ingresses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=servicemonitors,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Reconcile brings one realm's children in line with its spec and updates its status.
func (r *AuthRealmReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	realm := &authv1.AuthRealm{}
	if err := r.Client.Get(ctx, req.NamespacedName, realm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !realm.DeletionTimestamp.IsZero() {
		// Every child carries a controller owner reference: the garbage collector removes them.
		return ctrl.Result{}, nil
	}

	s := &realmScope{realm: realm, realmObservation: realmObservation{Realm: realm}, apply: newApplier(r.Client, r.Scheme)}
	steps := []func(context.Context, *realmScope) error{
		r.renderConfig,
		r.resolveReferences,
		r.reconcileKeys,
		r.reconcileServiceAccount,
		r.reconcileConfigMap,
		r.reconcileRedis,
		r.reconcileService,
		r.reconcileDeployment,
		r.reconcileDisruptionBudget,
		r.reconcileNetworkPolicy,
		r.reconcileIngress,
		r.reconcileServiceMonitor,
	}
	var errs []error
	for _, step := range steps {
		if err := step(ctx, s); err != nil {
			errs = append(errs, err)
			break // later steps depend on earlier ones
		}
	}
	err := errors.Join(errs...)
	if statusErr := r.updateStatus(ctx, s, err); statusErr != nil {
		err = errors.Join(err, statusErr)
	}
	if isNamespaceTerminating(err) {
		// Nothing can be created in a namespace being deleted, and nothing needs to be.
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, err
}

// realmScope carries what one reconcile has learned from step to step. The steps fill in the
// observation the status is computed from (problems, warnings, the Deployment and Redis) as
// they learn it.
type realmScope struct {
	realmObservation
	realm      *authv1.AuthRealm
	apply      *applier
	rendered   renderedConfig
	configJSON []byte
	// inputs are hashed into the pod template: config, generated keys, referenced data.
	inputs map[string][]byte
}

func (s *realmScope) applyObj(ctx context.Context, obj client.Object) error {
	return s.apply.apply(ctx, obj)
}

func (s *realmScope) removeObj(ctx context.Context, obj client.Object) error {
	obj.SetNamespace(s.realm.Namespace)
	return s.apply.remove(ctx, obj, s.realm)
}

func (r *AuthRealmReconciler) renderConfig(_ context.Context, s *realmScope) error {
	s.rendered = renderConfig(s.realm)
	b, err := s.rendered.Config.Marshal()
	if err != nil {
		return fmt.Errorf("marshal server config: %w", err)
	}
	// The operator renders through the server's own schema and validation: a config the
	// server would refuse is reported here instead of crash-looping pods.
	check := *s.rendered.Config
	check.Default() // as the server will: it sizes its own hashing pool
	if verr := check.Validate(); verr != nil {
		s.Problems = append(s.Problems, problem{authv1.ReasonInvalidSpec, "the rendered server config is invalid: " + verr.Error()})
	}
	s.configJSON = b
	s.inputs = map[string][]byte{"config": b}
	return nil
}

// resolveReferences reads every Secret key and ConfigMap the spec names. A missing one is a
// problem for the user, reported in status; the pods are not rolled onto a config they
// cannot start with.
func (r *AuthRealmReconciler) resolveReferences(ctx context.Context, s *realmScope) error {
	ns := s.realm.Namespace
	for _, f := range s.rendered.Secrets {
		if f.Secret == keysSecretName(s.realm) {
			continue // generated by reconcileKeys
		}
		sec := &corev1.Secret{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: f.Secret}, sec)
		switch {
		case kerrors.IsNotFound(err):
			s.Problems = append(s.Problems, problem{authv1.ReasonSecretMissing,
				fmt.Sprintf("Secret %s/%s named by %s does not exist: create it with key %q", ns, f.Secret, f.Field, f.Key)})
			continue
		case err != nil:
			return fmt.Errorf("get Secret %s/%s: %w", ns, f.Secret, err)
		}
		v, ok := sec.Data[f.Key]
		if !ok {
			s.Problems = append(s.Problems, problem{authv1.ReasonSecretKeyMissing,
				fmt.Sprintf("Secret %s/%s named by %s has no key %q: add it", ns, f.Secret, f.Field, f.Key)})
			continue
		}
		s.inputs["secret/"+f.Secret+"/"+f.Key] = v
	}
	if n := s.realm.Spec.Email.TemplatesConfigMapName; n != "" {
		cm := &corev1.ConfigMap{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: n}, cm)
		switch {
		case kerrors.IsNotFound(err):
			s.Problems = append(s.Problems, problem{authv1.ReasonInvalidSpec,
				fmt.Sprintf("ConfigMap %s/%s named by spec.email.templatesConfigMapName does not exist: create it or unset the field", ns, n)})
		case err != nil:
			return fmt.Errorf("get ConfigMap %s/%s: %w", ns, n, err)
		default:
			keys := make([]string, 0, len(cm.Data))
			for k := range cm.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				s.inputs["templates/"+k] = []byte(cm.Data[k])
			}
		}
	}
	return nil
}

// reconcileKeys creates the generated-keys Secret once and never overwrites it: a new token
// hash key would end every session. Deleting the Secret rotates the keys (and ends sessions).
func (r *AuthRealmReconciler) reconcileKeys(ctx context.Context, s *realmScope) error {
	sec := &corev1.Secret{}
	key := types.NamespacedName{Namespace: s.realm.Namespace, Name: keysSecretName(s.realm)}
	err := r.Client.Get(ctx, key, sec)
	if kerrors.IsNotFound(err) {
		tokenKey, err := r.randomString(32)
		if err != nil {
			return err
		}
		redisPassword, err := r.randomString(32)
		if err != nil {
			return err
		}
		sec = buildKeysSecret(s.realm, tokenKey, redisPassword)
		if err := r.Client.Create(ctx, sec); err != nil {
			return fmt.Errorf("create Secret %s: %w", key, err)
		}
	} else if err != nil {
		return fmt.Errorf("get Secret %s: %w", key, err)
	}
	// The Redis config that sets the password follows redis-password: a Secret created before
	// the key existed gets it, an edited password updates it. Nothing else is ever rewritten.
	if pw := sec.Data[keyRedisPassword]; len(pw) > 0 && !bytes.Equal(sec.Data[keyRedisAuthConf], redisAuthConf(pw)) {
		patch := client.MergeFrom(sec.DeepCopy())
		sec.Data[keyRedisAuthConf] = redisAuthConf(pw)
		if err := r.Client.Patch(ctx, sec, patch); err != nil {
			return fmt.Errorf("patch Secret %s: %w", key, err)
		}
	}
	for _, k := range []string{keyTokenHashKey, keyRedisPassword} {
		if len(sec.Data[k]) == 0 {
			s.Problems = append(s.Problems, problem{authv1.ReasonSecretKeyMissing,
				fmt.Sprintf("generated Secret %s lost key %q: delete the Secret so the operator generates new keys (this ends all sessions)", key, k)})
		}
		s.inputs["keys/"+k] = sec.Data[k]
	}
	return nil
}

func (r *AuthRealmReconciler) randomString(n int) (string, error) {
	b := make([]byte, n)
	fill := r.Random
	if fill == nil {
		fill = func(b []byte) error { _, err := rand.Read(b); return err }
	}
	if err := fill(b); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (r *AuthRealmReconciler) reconcileServiceAccount(ctx context.Context, s *realmScope) error {
	return s.applyObj(ctx, buildServiceAccount(s.realm))
}

func (r *AuthRealmReconciler) reconcileConfigMap(ctx context.Context, s *realmScope) error {
	return s.applyObj(ctx, buildConfigMap(s.realm, s.configJSON))
}

func (r *AuthRealmReconciler) reconcileService(ctx context.Context, s *realmScope) error {
	return s.applyObj(ctx, buildService(s.realm))
}

func (r *AuthRealmReconciler) reconcileRedis(ctx context.Context, s *realmScope) error {
	realm := s.realm
	if realm.Spec.ManagedRedis() == nil {
		for _, obj := range []client.Object{
			&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: redisName(realm)}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: redisName(realm)}},
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: redisName(realm)}},
		} {
			if err := s.removeObj(ctx, obj); err != nil {
				return err
			}
		}
		// The data volume is kept: switching to an external Redis must never destroy
		// data. Deleting the realm removes it through its owner reference.
		return nil
	}
	objs := []client.Object{buildRedisDataClaim(realm), buildRedisService(realm), buildRedisStatefulSet(realm)}
	if realm.Spec.NetworkPolicy.IsEnabled() {
		objs = append(objs, buildRedisNetworkPolicy(realm, r.OperatorNamespace))
	} else if err := s.removeObj(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: redisName(realm)}}); err != nil {
		return err
	}
	for _, obj := range objs {
		if err := s.applyObj(ctx, obj); err != nil {
			return err
		}
	}
	sts := &appsv1.StatefulSet{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: realm.Namespace, Name: redisName(realm)}, sts); err == nil {
		s.Redis = sts
	} else if !kerrors.IsNotFound(err) {
		return fmt.Errorf("get StatefulSet %s: %w", redisName(realm), err)
	}
	return nil
}

// configHash hashes every input of the pods in a stable order.
func configHash(inputs map[string][]byte) string {
	keys := make([]string, 0, len(inputs))
	for k := range inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%d\x00", k, len(inputs[k]))
		h.Write(inputs[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (r *AuthRealmReconciler) reconcileDeployment(ctx context.Context, s *realmScope) error {
	realm := s.realm
	key := types.NamespacedName{Namespace: realm.Namespace, Name: deploymentName(realm)}
	if len(s.Problems) == 0 {
		image := realm.Spec.Image
		if image == "" {
			image = r.ServerImage
		}
		if err := s.applyObj(ctx, buildDeployment(realm, image, s.rendered.Secrets, configHash(s.inputs))); err != nil {
			return err
		}
	}
	// With problems, the running servers are left as they are: rolling them onto a config
	// they cannot start with would take the realm down.
	d := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, key, d); err == nil {
		s.Deployment = d
	} else if !kerrors.IsNotFound(err) {
		return fmt.Errorf("get Deployment %s: %w", key, err)
	}
	return nil
}

func (r *AuthRealmReconciler) reconcileDisruptionBudget(ctx context.Context, s *realmScope) error {
	if desiredReplicas(s.realm) > 1 {
		return s.applyObj(ctx, buildPodDisruptionBudget(s.realm))
	}
	return s.removeObj(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: deploymentName(s.realm)}})
}

func (r *AuthRealmReconciler) reconcileNetworkPolicy(ctx context.Context, s *realmScope) error {
	if s.realm.Spec.NetworkPolicy.IsEnabled() {
		return s.applyObj(ctx, buildNetworkPolicy(s.realm))
	}
	return s.removeObj(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: deploymentName(s.realm)}})
}

func (r *AuthRealmReconciler) reconcileIngress(ctx context.Context, s *realmScope) error {
	if s.realm.Spec.Ingress != nil {
		return s.applyObj(ctx, buildIngress(s.realm))
	}
	return s.removeObj(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: deploymentName(s.realm)}})
}

func (r *AuthRealmReconciler) reconcileServiceMonitor(ctx context.Context, s *realmScope) error {
	gvk := schema.GroupVersionKind{Group: serviceMonitorGVK.Group, Version: serviceMonitorGVK.Version, Kind: serviceMonitorGVK.Kind}
	installed, err := r.kindInstalled(gvk)
	if err != nil {
		return err
	}
	want := s.realm.Spec.ServiceMonitor.IsEnabled()
	switch {
	case want && !installed:
		s.Warnings = append(s.Warnings, problem{"ServiceMonitorCRDMissing",
			"spec.serviceMonitor is enabled but the ServiceMonitor CRD (monitoring.coreos.com/v1) is not installed: install the Prometheus Operator or disable it"})
		return nil
	case want:
		return s.applyObj(ctx, buildServiceMonitor(s.realm))
	case installed:
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		u.SetName(deploymentName(s.realm))
		return s.removeObj(ctx, u)
	}
	return nil
}

func (r *AuthRealmReconciler) kindInstalled(gvk schema.GroupVersionKind) (bool, error) {
	_, err := r.Client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	switch {
	case err == nil:
		return true, nil
	case meta.IsNoMatchError(err):
		return false, nil
	}
	return false, fmt.Errorf("discover %s: %w", gvk.Kind, err)
}

// updateStatus computes the status from what the reconcile learned and writes it if it changed.
func (r *AuthRealmReconciler) updateStatus(ctx context.Context, s *realmScope, reconcileErr error) error {
	o := s.realmObservation
	o.ConfigHash, o.Err, o.Now = configHashIfComplete(s), reconcileErr, metav1.NewTime(r.now())
	return patchStatus(ctx, r.Client, s.realm, &s.realm.Status, computeRealmStatus(o))
}

func configHashIfComplete(s *realmScope) string {
	if len(s.Problems) > 0 || s.inputs == nil {
		return ""
	}
	return configHash(s.inputs)
}

func (r *AuthRealmReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// SetupWithManager registers the controller, its indexes and its watches.
func (r *AuthRealmReconciler) SetupWithManager(mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(context.Background(), &authv1.AuthRealm{}, indexSecretRefs, func(o client.Object) []string {
		var names []string
		for _, f := range renderConfig(o.(*authv1.AuthRealm)).Secrets {
			names = append(names, f.Secret)
		}
		return names
	}); err != nil {
		return fmt.Errorf("index secret references: %w", err)
	}
	if err := idx.IndexField(context.Background(), &authv1.AuthRealm{}, indexConfigMapRefs, func(o client.Object) []string {
		if n := o.(*authv1.AuthRealm).Spec.Email.TemplatesConfigMapName; n != "" {
			return []string{n}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index configmap references: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		WithOptions(controller.Options{MaxConcurrentReconciles: cmp.Or(r.Workers, DefaultRealmWorkers)}).
		For(&authv1.AuthRealm{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Owns(&corev1.ConfigMap{}, builder.OnlyMetadata).
		Owns(&corev1.Secret{}, builder.OnlyMetadata).
		Owns(&corev1.ServiceAccount{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.PersistentVolumeClaim{}).
		Owns(&appsv1.Deployment{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&networkingv1.Ingress{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.realmsReferencing(indexSecretRefs)), builder.OnlyMetadata).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.realmsReferencing(indexConfigMapRefs)), builder.OnlyMetadata).
		Complete(r)
}

// realmsReferencing maps a Secret or ConfigMap to the realms of its namespace that name it.
func (r *AuthRealmReconciler) realmsReferencing(index string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var list authv1.AuthRealmList
		if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{index: o.GetName()}); err != nil {
			log.FromContext(ctx).Error(err, "list realms referencing object", "name", o.GetName())
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, item := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: item.Namespace, Name: item.Name}})
		}
		return reqs
	}
}

// isNamespaceTerminating reports whether err only says the namespace is being deleted.
func isNamespaceTerminating(err error) bool {
	return err != nil && kerrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}
