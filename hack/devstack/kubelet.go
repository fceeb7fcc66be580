package devstack

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ServerSelector selects the auth-server Deployments the operator renders; the kubelet
// stand-in runs every Deployment it selects, in every namespace.
var ServerSelector = client.MatchingLabels{"app.kubernetes.io/name": "latch-server"}

// configHashAnnotation is the operator's hash of every input of the server pods.
const configHashAnnotation = "latch.dev/config-hash"

const (
	// kubeletResync bounds the time between two looks at the world when no event came.
	kubeletResync = 2 * time.Second
	// probePeriod is the period of the readiness probes. A template's own period (seconds,
	// sized for a cluster) would only make a local stack slower to come up and to roll.
	probePeriod  = 250 * time.Millisecond
	probeTimeout = 2 * time.Second
	// defaultGrace is the stop grace period when a template sets none.
	defaultGrace = 30 * time.Second
)

// kubelet runs the pods of the auth-server Deployments as local processes: it materializes
// each pod's volumes into a directory, starts `latch server` on the replica's loopback ports,
// follows the replica count and the pod template, restarts crashed processes with backoff,
// and writes the Deployment's status from the processes' readiness.
type kubelet struct {
	client client.WithWatch
	binary string
	dir    string
	ports  *portPlan
	log    *syncWriter

	kickCh chan struct{}

	mu   sync.Mutex
	sets map[types.NamespacedName]map[int]*instance
	// errs is the last start error of each slot, so a failure that repeats on every sync is
	// logged once.
	errs map[string]string
}

// instance is one replica's process, started from one pod template.
type instance struct {
	deployment   types.NamespacedName
	index        int
	templateHash string
	configHash   string
	ports        replicaPorts
	dir          string
	sup          *supervisor
	ready        atomic.Bool
	stopProbe    context.CancelFunc
	probeDone    chan struct{}
}

func newKubelet(c client.WithWatch, binary, dir string, ports *portPlan, log *syncWriter) *kubelet {
	return &kubelet{
		client: c, binary: binary, dir: dir, ports: ports, log: log,
		kickCh: make(chan struct{}, 1),
		sets:   map[types.NamespacedName]map[int]*instance{},
		errs:   map[string]string{},
	}
}

// kick asks for a sync soon; kicks while one is pending merge.
func (k *kubelet) kick() {
	select {
	case k.kickCh <- struct{}{}:
	default:
	}
}

// run syncs on every Deployment event, every readiness change and every kubeletResync, until
// ctx ends; then it stops every process and returns.
func (k *kubelet) run(ctx context.Context) {
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		k.watch(ctx)
	}()
	t := time.NewTicker(kubeletResync)
	defer t.Stop()
	for {
		k.syncAll(ctx)
		select {
		case <-ctx.Done():
			k.stopAll(false)
			<-watchDone
			return
		case <-k.kickCh:
		case <-t.C:
		}
	}
}

// watch turns Deployment events into kicks; the periodic resync covers its gaps.
func (k *kubelet) watch(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := k.client.Watch(ctx, &appsv1.DeploymentList{}, ServerSelector)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for range w.ResultChan() {
			k.kick()
		}
		w.Stop()
	}
}

func (k *kubelet) syncAll(ctx context.Context) {
	var list appsv1.DeploymentList
	if err := k.client.List(ctx, &list, ServerSelector); err != nil {
		if ctx.Err() == nil {
			k.logOnce("list", fmt.Sprintf("list Deployments: %v", err))
		}
		return
	}
	k.clearErr("list")
	seen := map[types.NamespacedName]bool{}
	for i := range list.Items {
		d := &list.Items[i]
		key := types.NamespacedName{Namespace: d.Namespace, Name: d.Name}
		seen[key] = true
		k.sync(ctx, d)
	}
	k.mu.Lock()
	var gone []*instance
	for key, set := range k.sets {
		if seen[key] {
			continue
		}
		for _, in := range set {
			gone = append(gone, in)
		}
		delete(k.sets, key)
	}
	k.mu.Unlock()
	for _, in := range gone {
		k.log.logf("%s: Deployment deleted; stopping replica %d", in.deployment, in.index)
	}
	stopInstances(gone, false)
}

func (k *kubelet) sync(ctx context.Context, d *appsv1.Deployment) {
	key := types.NamespacedName{Namespace: d.Namespace, Name: d.Name}
	hash := templateHash(&d.Spec.Template)
	for _, a := range planRollout(deploymentReplicas(d), hash, k.states(key)) {
		if ctx.Err() != nil {
			return
		}
		k.act(ctx, d, hash, a)
	}
	status := deploymentStatus(d, hash, k.states(key), metav1.Now())
	if equality.Semantic.DeepEqual(status, d.Status) {
		return
	}
	orig := d.DeepCopy()
	d.Status = status
	if err := k.client.Status().Patch(ctx, d, client.MergeFrom(orig)); err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		k.logOnce("status "+key.String(), fmt.Sprintf("%s: write Deployment status: %v", key, err))
		return
	}
	k.clearErr("status " + key.String())
}

func (k *kubelet) act(ctx context.Context, d *appsv1.Deployment, hash string, a action) {
	key := types.NamespacedName{Namespace: d.Namespace, Name: d.Name}
	k.mu.Lock()
	set := k.sets[key]
	if set == nil {
		set = map[int]*instance{}
		k.sets[key] = set
	}
	old := set[a.Index]
	if a.Kind != actStart {
		delete(set, a.Index)
	}
	k.mu.Unlock()

	switch a.Kind {
	case actStop:
		k.log.logf("%s: scaling down: stopping replica %d", key, a.Index)
		old.stop(false)
		return
	case actReplace:
		k.log.logf("%s: pod template changed (config hash %s): replacing replica %d", key, shortHash(d.Spec.Template.Annotations[configHashAnnotation]), a.Index)
		old.stop(false)
	}
	in, err := k.start(ctx, d, hash, a.Index)
	slot := fmt.Sprintf("%s/%d", key, a.Index)
	if err != nil {
		if ctx.Err() == nil {
			k.logOnce(slot, fmt.Sprintf("%s: cannot start replica %d yet: %v", key, a.Index, err))
		}
		return
	}
	k.clearErr(slot)
	k.mu.Lock()
	k.sets[key][a.Index] = in
	k.mu.Unlock()
}

// stop stops the instance's process and its probe. kill skips the grace period.
func (in *instance) stop(kill bool) {
	if kill {
		in.sup.Kill()
	} else {
		in.sup.Stop()
	}
	in.stopProbe()
	<-in.probeDone
	in.ready.Store(false)
	// The next process of this slot writes its own directory; this one is done with.
	_ = os.RemoveAll(in.dir)
}

func stopInstances(ins []*instance, kill bool) {
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.stop(kill)
		}()
	}
	wg.Wait()
}

// stopAll stops every process, all at once.
func (k *kubelet) stopAll(kill bool) {
	k.mu.Lock()
	var all []*instance
	for key, set := range k.sets {
		for _, in := range set {
			all = append(all, in)
		}
		delete(k.sets, key)
	}
	k.mu.Unlock()
	stopInstances(all, kill)
}

// killAll kills every process at once, for a second Ctrl-C.
func (k *kubelet) killAll() {
	k.mu.Lock()
	var all []*instance
	for _, set := range k.sets {
		for _, in := range set {
			all = append(all, in)
		}
	}
	k.mu.Unlock()
	for _, in := range all {
		in.sup.Kill()
	}
}

func (k *kubelet) states(key types.NamespacedName) []slotState {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []slotState
	for _, in := range k.sets[key] {
		out = append(out, slotState{Index: in.index, Hash: in.templateHash, Ready: in.ready.Load()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

func (k *kubelet) logOnce(key, msg string) {
	k.mu.Lock()
	same := k.errs[key] == msg
	k.errs[key] = msg
	k.mu.Unlock()
	if !same {
		k.log.logf("%s", msg)
	}
}

func (k *kubelet) clearErr(key string) {
	k.mu.Lock()
	delete(k.errs, key)
	k.mu.Unlock()
}
