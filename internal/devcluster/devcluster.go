package devcluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/internal/childproc"
	"github.com/latchauth/latch/internal/kubenode"
	"github.com/latchauth/latch/internal/toolenv"
)

// DefaultSamples are the config/samples files Start applies when Options.Samples is nil: the
// realm with every dialect, two replicas and the default managed Redis, and its device and
// app clients.
var DefaultSamples = []string{
	"config/samples/auth_v1alpha1_authrealm_full.yaml",
	"config/samples/auth_v1alpha1_deviceclient_device.yaml",
	"config/samples/auth_v1alpha1_deviceclient_app.yaml",
}

// Options configure Start. The zero value installs the repository's chart and DefaultSamples
// on a node built from the working tree.
type Options struct {
	// Node starts the node. Images nil means the repository's, rebuilt by hack/images first
	// (cached by content: seconds when warm), so the latch image is the working tree's. A zero
	// Timeout is 15 minutes, room for a cold image build.
	Node kubenode.Options
	// Release and ReleaseNamespace are helm's: "latch" in "latch-system" if empty.
	Release, ReleaseNamespace string
	// Namespace is where the samples go: "latch-demo" if empty.
	Namespace string
	// Samples are YAML files, relative to the repository root, applied in Namespace;
	// DefaultSamples if nil. The first AuthRealm among them is the Cluster's realm.
	Samples []string
	// HelmArgs are added to `helm install` (e.g. "--set", "logLevel=debug").
	HelmArgs []string
	// Customize, if set, may change each object of the samples before it is created (say, add
	// an origin to the realm's allowedOrigins).
	Customize func(*unstructured.Unstructured) error
	// Timeout bounds everything after the node is up (install, samples, Ready); 0 is 5 minutes.
	Timeout time.Duration
	// Progress receives one line per step; nil is os.Stderr. It is also the node's, unless
	// Node.Progress is set.
	Progress io.Writer
}

// Cluster is Latch running on a node.
type Cluster struct {
	Node *kubenode.Node
	// Kube and Client are clients of the node's API server as its admin; Client knows the
	// Latch types.
	Kube   kubernetes.Interface
	Client client.Client
	// Release, ReleaseNamespace and Namespace are as in Options, defaults applied.
	Release, ReleaseNamespace, Namespace string
	// Realm is the samples' AuthRealm; Clients their DeviceClients.
	Realm   types.NamespacedName
	Clients []types.NamespacedName
	// Image is the latch image the chart was installed with (repository:tag).
	Image string
	// OperatorPod is the operator's pod once it was Ready; its Spec.ServiceAccountName is the
	// one it runs as.
	OperatorPod *corev1.Pod
	// OperatorServiceAccount is the ServiceAccount helm installed for the operator.
	OperatorServiceAccount string

	root  string
	out   io.Writer
	start time.Time
	// The kubectl-latch binary KubectlLatch built, once; cleanups run at Stop.
	pluginOnce sync.Once
	plugin     string
	pluginErr  error
	cleanups   []func()
}

// Start brings a node up and installs Latch on it (see the package comment). On failure it
// stops the node, and the error carries the operator's and the node's last log lines.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Release == "" {
		o.Release = "latch"
	}
	if o.ReleaseNamespace == "" {
		o.ReleaseNamespace = "latch-system"
	}
	if o.Namespace == "" {
		o.Namespace = "latch-demo"
	}
	if o.Samples == nil {
		o.Samples = DefaultSamples
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	root := o.Node.Root
	if root == "" {
		if root, err = kubenode.FindRoot(); err != nil {
			return nil, err
		}
		o.Node.Root = root
	}
	if o.Node.Images == nil {
		o.Node.BuildImages = true
	}
	if o.Node.Timeout == 0 {
		o.Node.Timeout = 15 * time.Minute
	}
	if o.Node.Progress == nil {
		o.Node.Progress = o.Progress
	}
	helm, err := toolenv.Find(root, o.Progress, "HELM", "helm")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Release: o.Release, ReleaseNamespace: o.ReleaseNamespace, Namespace: o.Namespace, root: root, out: o.Progress, start: time.Now()}
	n, err := kubenode.Start(ctx, o.Node)
	if err != nil {
		return nil, err
	}
	c.Node = n
	defer func() {
		if err != nil {
			if logs := c.operatorLogs(context.Background(), 40); logs != "" {
				err = fmt.Errorf("%w\noperator's last lines:\n%s", err, logs)
			}
			if logs := c.unreadyLogs(context.Background(), 20); logs != "" {
				err = fmt.Errorf("%w\n%s", err, logs)
			}
			err = fmt.Errorf("%w\n%s", err, n.Logs(20))
			if serr := n.Stop(); serr != nil {
				err = fmt.Errorf("%w; and stopping the node: %w", err, serr)
			}
			c = nil
		}
	}()
	c.say("node Ready")
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	c.Kube = n.Client()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := authv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if c.Client, err = client.New(n.RESTConfig(), client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	if err := c.install(ctx, helm, o); err != nil {
		return nil, err
	}
	if err := c.applySamples(ctx, o.Samples, o.Customize); err != nil {
		return nil, err
	}
	if err := c.WaitReady(ctx); err != nil {
		return nil, err
	}
	c.say("realm %s and clients %v Ready", c.Realm, c.Clients)
	return c, nil
}

func (c *Cluster) say(format string, args ...any) {
	fmt.Fprintf(c.out, "[devcluster] %5.1fs  %s\n", time.Since(c.start).Seconds(), fmt.Sprintf(format, args...))
}

// Stop stops the node, restoring the host.
func (c *Cluster) Stop() error {
	for _, f := range c.cleanups {
		f()
	}
	return c.Node.Stop()
}

// latchImage is hack/IMAGE split for the chart's values, checked against what the node
// imported: image.repository is the familiar name, as the chart's default is.
func (c *Cluster) latchImage() (repo, tag string, err error) {
	b, err := os.ReadFile(filepath.Join(c.root, "hack", "IMAGE"))
	if err != nil {
		return "", "", err
	}
	named, err := reference.ParseNormalizedNamed(strings.TrimSpace(string(b)))
	if err != nil {
		return "", "", fmt.Errorf("hack/IMAGE: %w", err)
	}
	tagged, ok := named.(reference.NamedTagged)
	if !ok {
		return "", "", fmt.Errorf("hack/IMAGE %s has no tag", named)
	}
	if !slices.Contains(c.Node.Images(), named.String()) {
		return "", "", fmt.Errorf("the node did not import %s (hack/IMAGE); it has %v", named, c.Node.Images())
	}
	return reference.FamiliarName(named), tagged.Tag(), nil
}

// install runs helm install with the built image and waits for the operator's pod.
func (c *Cluster) install(ctx context.Context, helm string, o Options) error {
	repo, tag, err := c.latchImage()
	if err != nil {
		return err
	}
	c.Image = repo + ":" + tag
	args := []string{"install", c.Release, filepath.Join(c.root, "charts", "latch"),
		"--namespace", c.ReleaseNamespace, "--create-namespace", "--kubeconfig", c.Node.Kubeconfig(),
		"--set", "image.repository=" + repo, "--set", "image.tag=" + tag, "--set", "image.pullPolicy=Never"}
	args = append(args, o.HelmArgs...)
	c.say("helm %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, helm, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("helm install: %w\n%s", err, out.String())
	}
	c.say("helm install done; waiting for the operator's pod")
	sel := "app.kubernetes.io/name=latch-operator,app.kubernetes.io/instance=" + c.Release
	err = childproc.Poll(ctx, 300*time.Millisecond, func(ctx context.Context) error {
		pods, err := c.Kube.CoreV1().Pods(c.ReleaseNamespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return err
		}
		for i := range pods.Items {
			if p := &pods.Items[i]; podReady(p) && p.DeletionTimestamp == nil {
				c.OperatorPod = p
				return nil
			}
		}
		return fmt.Errorf("no Ready operator pod (%s) among %s", sel, podPhases(pods.Items))
	})
	if err != nil {
		return fmt.Errorf("%w\n%s", err, c.events(context.WithoutCancel(ctx), c.ReleaseNamespace))
	}
	// The ServiceAccount helm made for the operator, and the one its Deployment names.
	sas, err := c.Kube.CoreV1().ServiceAccounts(c.ReleaseNamespace).List(ctx, metav1.ListOptions{LabelSelector: sel + ",app.kubernetes.io/managed-by=Helm"})
	if err != nil {
		return err
	}
	if len(sas.Items) != 1 {
		return fmt.Errorf("helm made %d ServiceAccounts for the operator, want 1", len(sas.Items))
	}
	c.OperatorServiceAccount = sas.Items[0].Name
	c.say("operator pod %s Ready (ServiceAccount %s, image %s)", c.OperatorPod.Name, c.OperatorPod.Spec.ServiceAccountName, c.OperatorPod.Spec.Containers[0].Image)
	return nil
}

// applySamples creates the namespace and the samples' objects in it, at once, as `kubectl
// apply -f` would: the operator must cope. (Before a DeviceClient waited for its realm's
// managed Redis, its first reconcile resolved the realm's Redis before that Service existed,
// CoreDNS cached the NXDOMAIN for 30 s, and the realm's servers got it too: the samples took
// ~42 s to be Ready instead of ~7.)
func (c *Cluster) applySamples(ctx context.Context, samples []string, customize func(*unstructured.Unstructured) error) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.Namespace}}
	if err := c.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	type object struct {
		u    *unstructured.Unstructured
		from string
	}
	var first, clients []object
	for _, s := range samples {
		b, err := os.ReadFile(filepath.Join(c.root, s))
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err == io.EOF {
				break
			} else if err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			u.SetNamespace(c.Namespace)
			if customize != nil {
				if err := customize(u); err != nil {
					return fmt.Errorf("%s: customize %s %s: %w", s, u.GetKind(), u.GetName(), err)
				}
			}
			key := types.NamespacedName{Namespace: c.Namespace, Name: u.GetName()}
			switch u.GetKind() {
			case "AuthRealm":
				if c.Realm.Name == "" {
					c.Realm = key
				}
			case "DeviceClient":
				c.Clients = append(c.Clients, key)
				clients = append(clients, object{u, s})
				continue
			}
			first = append(first, object{u, s})
		}
	}
	if c.Realm.Name == "" {
		return fmt.Errorf("the samples %v hold no AuthRealm", samples)
	}
	create := func(objs []object) error {
		for _, o := range objs {
			if err := c.Client.Create(ctx, o.u); err != nil {
				return fmt.Errorf("%s: create %s %s: %w", o.from, o.u.GetKind(), o.u.GetName(), err)
			}
			c.say("applied %s %s/%s (%s)", o.u.GetKind(), c.Namespace, o.u.GetName(), o.from)
		}
		return nil
	}
	return create(append(first, clients...))
}

// GetRealm reads the realm.
func (c *Cluster) GetRealm(ctx context.Context) (*authv1.AuthRealm, error) {
	r := &authv1.AuthRealm{}
	return r, c.Client.Get(ctx, c.Realm, r)
}

// realmSettled is nil when the realm's status describes its spec, it is Ready, its servers are
// all ready, its Deployment's rollout is complete (every pod of the current template, ready,
// and no other) and its Service takes connections.
func (c *Cluster) realmSettled(ctx context.Context) error {
	r, err := c.GetRealm(ctx)
	if err != nil {
		return err
	}
	ready := meta.FindStatusCondition(r.Status.Conditions, authv1.ConditionReady)
	switch {
	case r.Status.ObservedGeneration != r.Generation:
		return fmt.Errorf("realm %s: status of generation %d, spec is %d", c.Realm, r.Status.ObservedGeneration, r.Generation)
	case ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != r.Generation:
		return fmt.Errorf("realm %s not Ready: %+v", c.Realm, ready)
	}
	d, err := c.Deployment(ctx)
	if err != nil {
		return err
	}
	want := ptrOr(d.Spec.Replicas, 1)
	if d.Status.ObservedGeneration != d.Generation || d.Status.UpdatedReplicas != want || d.Status.ReadyReplicas != want ||
		d.Status.AvailableReplicas != want || d.Status.Replicas != want {
		return fmt.Errorf("deployment %s rolling out: generation %d/%d, replicas %d, updated %d, ready %d, available %d, want %d",
			d.Name, d.Status.ObservedGeneration, d.Generation, d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas, want)
	}
	// Every pod of the selector: want of them, Ready, and none terminating (which kube-proxy
	// may still route to, and which a drain would find).
	list, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: r.Status.Selector})
	if err != nil {
		return err
	}
	for i := range list.Items {
		if p := &list.Items[i]; p.DeletionTimestamp != nil || !podReady(p) {
			return fmt.Errorf("server pods not all Ready or some terminating: %s", podPhases(list.Items))
		}
	}
	if len(list.Items) != int(want) {
		return fmt.Errorf("%d server pods (%s), want %d", len(list.Items), podPhases(list.Items), want)
	}
	// The pods' readiness reaches kube-proxy through an EndpointSlice and its next sync: until
	// then a connection to the ClusterIP is refused (no endpoints). On a busy machine that came
	// a second after the realm was Ready, and a test's first request failed. One connection
	// shows kube-proxy has endpoints for the Service, not yet that it has all of them: enough
	// that no request is refused.
	if want == 0 {
		return nil
	}
	addr, err := c.serviceAddr(ctx)
	if err != nil {
		return err
	}
	conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("the realm's Service does not take connections yet (kube-proxy): %w", err)
	}
	return conn.Close()
}

// WaitReady waits for the realm to be settled (see realmSettled) and every client Ready.
func (c *Cluster) WaitReady(ctx context.Context) error {
	began, said := time.Now(), time.Now()
	err := childproc.Poll(ctx, 300*time.Millisecond, func(ctx context.Context) (err error) {
		defer func() {
			if err != nil && time.Since(said) >= 10*time.Second {
				c.say("waiting %.0f s for the realm and clients: %v", time.Since(began).Seconds(), err)
				said = time.Now()
			}
		}()
		if err := c.realmSettled(ctx); err != nil {
			return err
		}
		for _, k := range c.Clients {
			dc := &authv1.DeviceClient{}
			if err := c.Client.Get(ctx, k, dc); err != nil {
				return err
			}
			ready := meta.FindStatusCondition(dc.Status.Conditions, authv1.ConditionReady)
			if ready == nil || ready.Status != metav1.ConditionTrue || dc.Status.ObservedGeneration != dc.Generation {
				return fmt.Errorf("client %s not Ready: %+v", k, ready)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w\n%s", err, c.events(context.WithoutCancel(ctx), c.Namespace))
	}
	return nil
}

// Deployment is the realm's server Deployment.
func (c *Cluster) Deployment(ctx context.Context) (*appsv1.Deployment, error) {
	return c.Kube.AppsV1().Deployments(c.Namespace).Get(ctx, c.Realm.Name, metav1.GetOptions{})
}

// ServerPods are the realm's server pods (by the realm's status selector) that are not being
// deleted, by name.
func (c *Cluster) ServerPods(ctx context.Context) ([]corev1.Pod, error) {
	r, err := c.GetRealm(ctx)
	if err != nil {
		return nil, err
	}
	if r.Status.Selector == "" {
		return nil, fmt.Errorf("realm %s has no status.selector yet", c.Realm)
	}
	list, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: r.Status.Selector})
	if err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods, nil
}

// serviceAddr is the realm's Service by its ClusterIP and "http" port, IP:8080.
func (c *Cluster) serviceAddr(ctx context.Context) (string, error) {
	svc, err := c.Kube.CoreV1().Services(c.Namespace).Get(ctx, c.Realm.Name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == "http" {
			return net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(p.Port))), nil
		}
	}
	return "", fmt.Errorf("service %s has no http port", svc.Name)
}

// ServiceURL is the realm's Service by its ClusterIP, http://IP:8080: kube-proxy routes it
// from the host (its iptables OUTPUT rules) as from a pod, to the ready server pods.
func (c *Cluster) ServiceURL(ctx context.Context) (string, error) {
	addr, err := c.serviceAddr(ctx)
	if err != nil {
		return "", err
	}
	return "http://" + addr, nil
}

// PodURL is how the host reaches one ready server pod: by its IP, on the node's bridge.
type PodURL struct {
	// Name is the pod's.
	Name string
	// URL is its public port (authv1.ServerPort), http://IP:8080.
	URL string
	// Admin is its admin port (authv1.AdminPort: /metrics, the probes), http://IP:9090.
	Admin string
}

// PodURLs are the ready server pods' URLs, by pod name.
func (c *Cluster) PodURLs(ctx context.Context) ([]PodURL, error) {
	pods, err := c.ServerPods(ctx)
	if err != nil {
		return nil, err
	}
	var urls []PodURL
	for i := range pods {
		if ip := pods[i].Status.PodIP; podReady(&pods[i]) && ip != "" {
			urls = append(urls, PodURL{
				Name:  pods[i].Name,
				URL:   "http://" + net.JoinHostPort(ip, strconv.Itoa(authv1.ServerPort)),
				Admin: "http://" + net.JoinHostPort(ip, strconv.Itoa(authv1.AdminPort)),
			})
		}
	}
	return urls, nil
}

// Rollout is what an EditRealm did.
type Rollout struct {
	// ConfigHash before and after the edit (the realm's status.configHash).
	OldHash, NewHash string
	// OldPods and NewPods are the server pods' names before and after.
	OldPods, NewPods []string
	// Took is from the update to the settled realm.
	Took time.Duration
}

// EditRealm changes the realm with edit (retried on conflicts) and waits, within ctx, for the
// operator to render it and the Deployment controller to finish the rollout it causes. It
// fails when the edit changed the config hash but not the pods.
func (c *Cluster) EditRealm(ctx context.Context, edit func(*authv1.AuthRealm)) (Rollout, error) {
	var ro Rollout
	before, err := c.GetRealm(ctx)
	if err != nil {
		return ro, err
	}
	ro.OldHash = before.Status.ConfigHash
	pods, err := c.ServerPods(ctx)
	if err != nil {
		return ro, err
	}
	ro.OldPods = podNames(pods)
	var gen int64
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r, err := c.GetRealm(ctx)
		if err != nil {
			return err
		}
		edit(r)
		if err := c.Client.Update(ctx, r); err != nil {
			return err
		}
		gen = r.Generation
		return nil
	})
	if err != nil {
		return ro, fmt.Errorf("update realm %s: %w", c.Realm, err)
	}
	start := time.Now()
	c.say("realm %s edited (generation %d); waiting for the rollout", c.Realm, gen)
	err = childproc.Poll(ctx, 300*time.Millisecond, func(ctx context.Context) error {
		r, err := c.GetRealm(ctx)
		if err != nil {
			return err
		}
		if r.Status.ObservedGeneration < gen {
			return fmt.Errorf("realm %s: status of generation %d, edit is %d", c.Realm, r.Status.ObservedGeneration, gen)
		}
		ro.NewHash = r.Status.ConfigHash
		if err := c.realmSettled(ctx); err != nil {
			return err
		}
		pods, err := c.ServerPods(ctx)
		if err != nil {
			return err
		}
		ro.NewPods = podNames(pods)
		if ro.NewHash != ro.OldHash && slices.ContainsFunc(ro.NewPods, func(p string) bool { return slices.Contains(ro.OldPods, p) }) {
			return fmt.Errorf("config hash changed (%s → %s) but pods %v are still there", ro.OldHash, ro.NewHash, ro.OldPods)
		}
		return nil
	})
	ro.Took = time.Since(start)
	if err != nil {
		return ro, fmt.Errorf("%w\n%s", err, c.events(context.WithoutCancel(ctx), c.Namespace))
	}
	c.say("rollout done in %.1f s: pods %v → %v", ro.Took.Seconds(), ro.OldPods, ro.NewPods)
	return ro, nil
}

// OperatorLogs are the operator pod's last lines.
func (c *Cluster) operatorLogs(ctx context.Context, lines int64) string {
	if c.Kube == nil || c.OperatorPod == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := c.Kube.CoreV1().Pods(c.ReleaseNamespace).GetLogs(c.OperatorPod.Name, &corev1.PodLogOptions{TailLines: &lines}).DoRaw(ctx)
	if err != nil {
		return fmt.Sprintf("(operator logs: %v)", err)
	}
	return string(b)
}

// Diagnostics are the operator's last log lines, those of the samples' pods that are not
// Ready and the namespaces' recent events, for a failing test.
func (c *Cluster) Diagnostics(ctx context.Context) string {
	return "operator:\n" + c.operatorLogs(ctx, 40) + "\n" + c.unreadyLogs(ctx, 20) + c.events(ctx, c.Namespace) + "\n" + c.events(ctx, c.ReleaseNamespace)
}

// unreadyLogs are the last lines of every container of the samples' pods that are not Ready.
func (c *Cluster) unreadyLogs(ctx context.Context, lines int64) string {
	if c.Kube == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pods, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Sprintf("(pods of %s: %v)\n", c.Namespace, err)
	}
	var sb strings.Builder
	for i := range pods.Items {
		p := &pods.Items[i]
		if podReady(p) {
			continue
		}
		for _, ctr := range p.Spec.Containers {
			b, err := c.Kube.CoreV1().Pods(c.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: ctr.Name, TailLines: &lines}).DoRaw(ctx)
			if err != nil {
				b = []byte(err.Error())
			}
			fmt.Fprintf(&sb, "pod %s (not Ready), container %s, last lines:\n%s\n", p.Name, ctr.Name, b)
		}
	}
	return sb.String()
}

// events lists a namespace's last events, for errors.
func (c *Cluster) events(ctx context.Context, ns string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	evs, err := c.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Sprintf("(events of %s: %v)", ns, err)
	}
	items := evs.Items
	slices.SortFunc(items, func(a, b corev1.Event) int { return a.LastTimestamp.Compare(b.LastTimestamp.Time) })
	if len(items) > 25 {
		items = items[len(items)-25:]
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "events in %s:\n", ns)
	for _, e := range items {
		fmt.Fprintf(&sb, "  %s %s/%s %s: %s\n", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
	}
	return sb.String()
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podPhases(pods []corev1.Pod) string {
	var s []string
	for i := range pods {
		state := fmt.Sprintf("%s %s ready=%t", pods[i].Name, pods[i].Status.Phase, podReady(&pods[i]))
		if pods[i].DeletionTimestamp != nil {
			state += " terminating"
		}
		s = append(s, state)
	}
	if len(s) == 0 {
		return "no pods"
	}
	return strings.Join(s, ", ")
}

func podNames(pods []corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return names
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
