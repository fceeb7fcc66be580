package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/controllers"
	"github.com/latchauth/latch/controllers/writecount"
	"github.com/latchauth/latch/internal/toolenv"
)

// The operator suite: the real reconcilers, in-process, against envtest's etcd and
// kube-apiserver, with the bench standing in for the Deployment controller and the kubelet.

// Operator targets (issue 6).
const targetReady = 60 * time.Second

// realmsPerNamespace groups the realms (and their clients) into namespaces.
const realmsPerNamespace = 10

// operatorRun is one repetition on a fresh control plane.
type operatorRun struct {
	realms, clients       int
	created               time.Duration // to create every object
	realmsReady, allReady time.Duration // from the first create
	quietWrites           int64         // writes in the quiet window after Ready
	quietWindow           time.Duration
	noopRealmWrites       int64 // writes (and events) of one no-op reconcile of every realm
	noopClientWrites      int64 // ... of every client
	noopRealmEvents       int64
	noopClientEvents      int64
	kubeletWrites         int64
	// reconciles and their mean duration per controller, until all were Ready
	reconciles map[string]reconcileStats
}

type reconcileStats struct {
	count       float64
	mean        time.Duration
	queueWaitAv time.Duration
}

// reconcileTotals are controller-runtime's own counters for one controller: reconciles and
// their total duration, and queue waits and their total. They live in its global registry, so
// they add up over the runs of this process; a run's figures are the difference.
type reconcileTotals struct{ n, sum, qn, qsum float64 }

func reconcileMetrics() (map[string]reconcileTotals, error) {
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]reconcileTotals{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var name string
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" || l.GetName() == "name" {
					name = l.GetValue()
				}
			}
			t := out[name]
			switch f.GetName() {
			case "controller_runtime_reconcile_time_seconds":
				t.n += float64(m.GetHistogram().GetSampleCount())
				t.sum += m.GetHistogram().GetSampleSum()
			case "workqueue_queue_duration_seconds":
				t.qn += float64(m.GetHistogram().GetSampleCount())
				t.qsum += m.GetHistogram().GetSampleSum()
			default:
				continue
			}
			out[name] = t
		}
	}
	return out, nil
}

// reconcileDelta is what happened between two readings of reconcileMetrics.
func reconcileDelta(before, after map[string]reconcileTotals) map[string]reconcileStats {
	out := map[string]reconcileStats{}
	for name, a := range after {
		b := before[name]
		d := reconcileTotals{n: a.n - b.n, sum: a.sum - b.sum, qn: a.qn - b.qn, qsum: a.qsum - b.qsum}
		if d.n <= 0 {
			continue
		}
		st := reconcileStats{count: d.n, mean: time.Duration(d.sum / d.n * float64(time.Second))}
		if d.qn > 0 {
			st.queueWaitAv = time.Duration(d.qsum / d.qn * float64(time.Second))
		}
		out[name] = st
	}
	return out
}

func (b *bench) operatorSuite() error {
	o := b.opts
	assets, err := toolenv.Find(o.repo, os.Stderr, "KUBEBUILDER_ASSETS", "envtest") // etcd and kube-apiserver
	if err != nil {
		return err
	}
	crds := filepath.Join(o.repo, "config", "crd", "bases")
	if _, err := os.Stat(crds); err != nil {
		return fmt.Errorf("CRDs: %w (run from the repository root or set -repo)", err)
	}
	// controller-runtime's logs (errors only) go to a file in the work directory.
	logFile, err := os.Create(filepath.Join(b.dir, "operator.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	crlog.SetLogger(zap.New(zap.WriteTo(logFile), zap.Level(zapcore.ErrorLevel)))
	rds, err := b.startRedis("operator-redis")
	if err != nil {
		return err
	}
	var runs []operatorRun
	for rep := 1; rep <= o.operatorReps; rep++ {
		if err := b.ctx.Err(); err != nil {
			return err
		}
		r, err := b.operatorRun(rep, assets, crds, rds)
		if err != nil {
			return fmt.Errorf("run %d: %w", rep, err)
		}
		runs = append(runs, r)
		for name, st := range r.reconciles {
			logf("operator run %d: controller %s: %.0f reconciles, mean %s, mean queue wait %s", rep, name, st.count, fmtDur(st.mean), fmtDur(st.queueWaitAv))
		}
		logf("operator run %d/%d: %d realms Ready in %s, all %d objects Ready in %s; no-op reconcile writes: realms %d, clients %d (events %d, %d); quiet window %s: %d writes",
			rep, o.operatorReps, r.realms, fmtDur(r.realmsReady), r.realms+r.clients, fmtDur(r.allReady),
			r.noopRealmWrites, r.noopClientWrites, r.noopRealmEvents, r.noopClientEvents, r.quietWindow, r.quietWrites)
	}
	b.reportOperator(runs)
	return nil
}

func (b *bench) operatorRun(rep int, assets, crds string, rds *redisProc) (operatorRun, error) {
	o := b.opts
	r := operatorRun{realms: o.realms, clients: o.clients}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(authv1.AddToScheme(scheme))
	env := &envtest.Environment{
		CRDDirectoryPaths: []string{crds}, ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets, Scheme: scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		return r, fmt.Errorf("start the control plane: %w", err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			logf("stop the control plane: %v", err)
		}
	}()
	// As `latch manager` runs (ctrl.GetConfig): no client-side rate limit, the API server's
	// priority and fairness instead.
	mgrCfg := *cfg
	mgrCfg.QPS, mgrCfg.Burst = -1, -1
	skipNames := true // each run builds the same controllers again in this process
	mgr, err := ctrl.NewManager(&mgrCfg, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: crconfig.Controller{SkipNameValidation: &skipNames},
		Client:     controllers.ClientOptions(),
	})
	if err != nil {
		return r, err
	}
	var writes, events, kubeletWrites atomic.Int64
	realmRec := &controllers.AuthRealmReconciler{
		Client: writecount.Wrap(mgr.GetClient(), &writes), Scheme: scheme, ServerImage: "bench.test/latch:bench",
	}
	if err := realmRec.SetupWithManager(mgr); err != nil {
		return r, err
	}
	clientRec := &controllers.DeviceClientReconciler{
		Client: writecount.Wrap(mgr.GetClient(), &writes), Scheme: scheme,
		Recorder: countingRecorder{EventRecorder: mgr.GetEventRecorder("latch-deviceclient"), n: &events},
	}
	if err := clientRec.SetupWithManager(mgr); err != nil {
		return r, err
	}
	// envtest runs no Deployment controller and no kubelet: the bench marks every server
	// Deployment's replicas ready as soon as it sees it, as a healthy cluster would shortly.
	if err := ctrl.NewControllerManagedBy(mgr).Named("bench-kubelet").For(&appsv1.Deployment{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(deploymentReadier{c: mgr.GetClient(), writes: &kubeletWrites}); err != nil {
		return r, err
	}
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-mgrDone; err != nil {
			logf("manager: %v", err)
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return r, errors.New("the manager's cache did not sync")
	}
	api, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return r, err
	}

	namespaces := (o.realms + realmsPerNamespace - 1) / realmsPerNamespace
	for i := range namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d-%03d", rep, i)}}
		if err := api.Create(ctx, ns); err != nil {
			return r, err
		}
	}
	realmKey := func(i int) client.ObjectKey {
		return client.ObjectKey{Namespace: fmt.Sprintf("bench-%d-%03d", rep, i/realmsPerNamespace), Name: fmt.Sprintf("realm-%03d", i)}
	}
	logf("operator run %d: creating %d AuthRealms and %d DeviceClients", rep, o.realms, o.clients)
	var stopProfile func()
	if o.profileDir != "" && rep == 1 {
		if stopProfile, err = startCPUProfile(filepath.Join(o.profileDir, "operator.cpu.pprof")); err != nil {
			return r, err
		}
		defer func() {
			if stopProfile != nil {
				stopProfile()
			}
		}()
	}
	before, err := reconcileMetrics()
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	// Everything at once, as `kubectl apply -f` of a whole platform would: the clients do
	// not wait for their realms.
	if err := parallel(o.realms, 16, func(i int) error {
		k := realmKey(i)
		realm := &authv1.AuthRealm{
			ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name},
			Spec: authv1.AuthRealmSpec{
				Redis: &authv1.RedisSpec{External: &authv1.ExternalRedisSpec{
					Addresses: []string{rds.addr}, KeyPrefix: fmt.Sprintf("latch:%s:%s:", k.Namespace, k.Name),
				}},
				Protocols: authv1.ProtocolsSpec{BearerToken: &authv1.BearerTokenSpec{}},
			},
		}
		return api.Create(ctx, realm)
	}); err != nil {
		return r, fmt.Errorf("create realms: %w", err)
	}
	if err := parallel(o.clients, 16, func(i int) error {
		k := realmKey(i % o.realms)
		dc := &authv1.DeviceClient{
			ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: fmt.Sprintf("client-%04d", i)},
			Spec:       authv1.DeviceClientSpec{RealmRef: authv1.RealmReference{Name: k.Name}},
		}
		return api.Create(ctx, dc)
	}); err != nil {
		return r, fmt.Errorf("create clients: %w", err)
	}
	r.created = time.Since(t0)

	// Ready: every object's Ready condition True for its current generation, read from the
	// manager's cache (what the API server says, a moment later, without loading it).
	cached := mgr.GetClient()
	deadline := t0.Add(5 * time.Minute)
	for r.allReady == 0 {
		var realms authv1.AuthRealmList
		var dcs authv1.DeviceClientList
		// Read-only lists of the cache's own objects: copying 2,000 clients five times a second
		// would take CPU from the operator it measures.
		if err := cached.List(ctx, &realms, client.UnsafeDisableDeepCopy); err != nil {
			return r, err
		}
		if err := cached.List(ctx, &dcs, client.UnsafeDisableDeepCopy); err != nil {
			return r, err
		}
		nr, nc := 0, 0
		for i := range realms.Items {
			if isReady(realms.Items[i].Status.Conditions, realms.Items[i].Generation) {
				nr++
			}
		}
		for i := range dcs.Items {
			if isReady(dcs.Items[i].Status.Conditions, dcs.Items[i].Generation) {
				nc++
			}
		}
		now := time.Since(t0)
		if nr == o.realms && r.realmsReady == 0 {
			r.realmsReady = now
		}
		if nr == o.realms && nc == o.clients {
			r.allReady = now
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return r, fmt.Errorf("after %s only %d/%d realms and %d/%d clients are Ready", now.Round(time.Second), nr, o.realms, nc, o.clients)
		}
		time.Sleep(250 * time.Millisecond)
	}

	after, err := reconcileMetrics()
	if err != nil {
		return r, err
	}
	r.reconciles = reconcileDelta(before, after)
	if stopProfile != nil {
		stopProfile()
	}

	// A quiet window: nothing changes, so the operator should write nothing.
	r.quietWindow = 5 * time.Second
	w0 := writes.Load() + events.Load()
	time.Sleep(r.quietWindow)
	r.quietWrites = writes.Load() + events.Load() - w0

	// One no-op reconcile of every object, called directly on the running reconcilers (whose
	// clients read the manager's cache and count every write they send).
	w0, e0 := writes.Load(), events.Load()
	for i := range o.realms {
		if _, err := realmRec.Reconcile(ctx, reconcile.Request{NamespacedName: realmKey(i)}); err != nil {
			return r, fmt.Errorf("no-op reconcile of realm %s: %w", realmKey(i), err)
		}
	}
	r.noopRealmWrites, r.noopRealmEvents = writes.Load()-w0, events.Load()-e0
	w0, e0 = writes.Load(), events.Load()
	for i := range o.clients {
		k := realmKey(i % o.realms)
		key := client.ObjectKey{Namespace: k.Namespace, Name: fmt.Sprintf("client-%04d", i)}
		if _, err := clientRec.Reconcile(ctx, reconcile.Request{NamespacedName: key}); err != nil {
			return r, fmt.Errorf("no-op reconcile of client %s: %w", key, err)
		}
	}
	r.noopClientWrites, r.noopClientEvents = writes.Load()-w0, events.Load()-e0
	r.kubeletWrites = kubeletWrites.Load()
	return r, nil
}

func isReady(conds []metav1.Condition, generation int64) bool {
	c := meta.FindStatusCondition(conds, "Ready")
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == generation
}

// deploymentReadier is the bench's Deployment controller and kubelet: it reports every
// Deployment's replicas as updated, ready and available for its current generation.
type deploymentReadier struct {
	c      client.Client
	writes *atomic.Int64
}

func (d deploymentReadier) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	dep := &appsv1.Deployment{}
	if err := d.c.Get(ctx, req.NamespacedName, dep); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := appsv1.DeploymentStatus{
		ObservedGeneration: dep.Generation, Replicas: want, UpdatedReplicas: want, ReadyReplicas: want, AvailableReplicas: want,
	}
	if dep.Status.ObservedGeneration == st.ObservedGeneration && dep.Status.Replicas == want && dep.Status.UpdatedReplicas == want &&
		dep.Status.ReadyReplicas == want && dep.Status.AvailableReplicas == want {
		return reconcile.Result{}, nil
	}
	dep.Status = st
	d.writes.Add(1)
	return reconcile.Result{}, d.c.Status().Update(ctx, dep)
}

// countingRecorder counts the events a reconciler emits: each is an API write.
type countingRecorder struct {
	events.EventRecorder
	n *atomic.Int64
}

func (c countingRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	c.n.Add(1)
	c.EventRecorder.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

func (b *bench) reportOperator(runs []operatorRun) {
	o := b.opts
	var w strings.Builder
	fmt.Fprintf(&w, "## 4. Operator\n\n")
	fmt.Fprintf(&w, "The real reconcilers (`controllers.AuthRealmReconciler`, `controllers.DeviceClientReconciler`) in a\n")
	fmt.Fprintf(&w, "controller-runtime manager in the bench's process, configured as `latch manager` runs them (default\n")
	fmt.Fprintf(&w, "concurrency, no client-side rate limit), against envtest's etcd and kube-apiserver, a fresh control plane\n")
	fmt.Fprintf(&w, "per run. %d AuthRealms (%d per namespace, one replica each, bearerToken enabled) and %d\n", o.realms, realmsPerNamespace, o.clients)
	fmt.Fprintf(&w, "DeviceClients of type device (%d per realm) are created at once; each realm uses `redis.external`\n", o.clients/max(o.realms, 1))
	fmt.Fprintf(&w, "pointing at the bench's Redis, so every client's token is really minted and registered there. **envtest runs no\n")
	fmt.Fprintf(&w, "Deployment controller and no kubelet: the bench stands in for both**, marking each server Deployment's\n")
	fmt.Fprintf(&w, "replicas updated, ready and available for its generation as soon as it appears (so \"Ready\" here\n")
	fmt.Fprintf(&w, "excludes pod start-up time). Ready = every object's `Ready` condition True for its current generation.\n\n")
	fmt.Fprintf(&w, "API writes are counted by wrapping the reconcilers' clients (every create, update, patch, apply and\n")
	fmt.Fprintf(&w, "delete, status included) and their event recorder. After Ready, a quiet window of 5 s, then one\n")
	fmt.Fprintf(&w, "no-op reconcile of every realm and every client, called on the running reconcilers.\n\n")
	fmt.Fprintf(&w, "| run | objects created in | realms Ready | all Ready | writes in the quiet window | writes per no-op reconcile: realm | client | events in no-op reconciles |\n")
	fmt.Fprintf(&w, "|---|---|---|---|---|---|---|---|\n")
	var ready, realmsReady []float64
	noopOK := true
	var noopTotal int64
	for i, r := range runs {
		ready = append(ready, r.allReady.Seconds())
		realmsReady = append(realmsReady, r.realmsReady.Seconds())
		noop := r.noopRealmWrites + r.noopClientWrites + r.noopRealmEvents + r.noopClientEvents
		noopTotal += noop
		noopOK = noopOK && noop == 0
		fmt.Fprintf(&w, "| %d | %s | %s | %s | %d | %.2f | %.2f | %d |\n", i+1, fmtDur(r.created), fmtDur(r.realmsReady), fmtDur(r.allReady),
			r.quietWrites, float64(r.noopRealmWrites)/float64(r.realms), float64(r.noopClientWrites)/float64(max(r.clients, 1)),
			r.noopRealmEvents+r.noopClientEvents)
	}
	allReady := secs(median(ready))
	fmt.Fprintf(&w, "| median | | %s | %s | | | | |\n\n", fmtDur(secs(median(realmsReady))), fmtDur(allReady))
	fmt.Fprintf(&w, "Reconciles until everything was Ready (controller-runtime's own metrics; one worker per controller, as\n")
	fmt.Fprintf(&w, "`latch manager` configures them):\n\n| run | controller | reconciles | mean duration | mean wait in the queue |\n|---|---|---|---|---|\n")
	for i, r := range runs {
		for _, name := range slices.Sorted(maps.Keys(r.reconciles)) {
			st := r.reconciles[name]
			fmt.Fprintf(&w, "| %d | %s | %.0f | %s | %s |\n", i+1, name, st.count, fmtDur(st.mean), fmtDur(st.queueWaitAv))
		}
	}
	fmt.Fprintln(&w)
	b.report.section("operator", w.String())
	scale := ""
	if o.realms < 200 || o.clients < 2000 {
		scale = fmt.Sprintf(" — only %d realms and %d clients attempted (-realms, -clients)", o.realms, o.clients)
	}
	b.report.target("operator", "200 AuthRealms and 2,000 DeviceClients Ready in < 60 s",
		fmt.Sprintf("%s (realms alone %s)%s%s", fmtDur(allReady), fmtDur(secs(median(realmsReady))),
			shortfall(allReady >= targetReady, fmt.Sprintf("%s over", fmtDur(allReady-targetReady))), scale),
		allReady < targetReady && o.realms >= 200 && o.clients >= 2000)
	b.report.target("operator", "0 API writes per no-op reconcile",
		fmt.Sprintf("%d writes and events over %d no-op reconciles in %d runs", noopTotal, (o.realms+o.clients)*len(runs), len(runs)), noopOK)
}
