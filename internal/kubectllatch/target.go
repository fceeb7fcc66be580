package kubectllatch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// What the operator puts on a realm's server pods (controllers/names.go and
// buildDeployment); controllers/kubectllatch_contract_test.go fails if they drift apart.
const (
	// serverNameLabel and instanceLabel select a realm's server pods: the Deployment's
	// selector, which never changes for the life of a realm.
	serverNameLabel = "app.kubernetes.io/name"
	serverNameValue = "latch-server"
	instanceLabel   = "app.kubernetes.io/instance"
	// serverContainer is the container that runs `latch server --config FILE`.
	serverContainer = "server"
	// serverBinary is the image's entrypoint (the Dockerfile's ENTRYPOINT ["/latch"]): an exec
	// names its command in full, and the operator's container sets no command of its own.
	serverBinary = "/latch"
)

// Target is where latch admin runs: a ready server pod of a realm, its server container,
// and the config file that container's server was started with.
type Target struct {
	Namespace, Realm       string
	Pod, Container, Binary string
	ConfigPath             string
}

// ServerSelector selects the server pods of the realm named realm.
func ServerSelector(realm string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{serverNameLabel: serverNameValue, instanceLabel: realm})
}

// resolveRealm returns the realm's name: --realm, or the namespace's only realm. Naming the
// one realm of a namespace would be a chore; guessing among several would be a hazard.
func resolveRealm(ctx context.Context, c *Cluster, realm string) (string, error) {
	if realm != "" {
		return realm, nil
	}
	var list authv1.AuthRealmList
	if err := c.Latch.Get().Namespace(c.Namespace).Resource("authrealms").Do(ctx).Into(&list); err != nil {
		return "", fmt.Errorf("--realm is required (listing the realms of namespace %s: %w)", c.Namespace, err)
	}
	switch len(list.Items) {
	case 0:
		return "", fmt.Errorf("namespace %s has no AuthRealm", c.Namespace)
	case 1:
		return list.Items[0].Name, nil
	}
	names := make([]string, len(list.Items))
	for i, r := range list.Items {
		names[i] = r.Name
	}
	sort.Strings(names)
	return "", usagef("namespace %s has several realms (%s): name one with --realm", c.Namespace, strings.Join(names, ", "))
}

// FindTarget returns a ready server pod of the realm named realm in the cluster's namespace.
// It reads the realm first: "no such realm" is a clearer answer than "no pods", and its
// status names the current config hash and the operator's own selector.
func FindTarget(ctx context.Context, c *Cluster, realm string) (Target, error) {
	var r authv1.AuthRealm
	if err := c.Latch.Get().Namespace(c.Namespace).Resource("authrealms").Name(realm).Do(ctx).Into(&r); err != nil {
		if apierrors.IsNotFound(err) {
			return Target{}, fmt.Errorf("no AuthRealm %q in namespace %s", realm, c.Namespace)
		}
		return Target{}, fmt.Errorf("realm %s/%s: %w", c.Namespace, realm, err)
	}
	selector := ServerSelector(realm)
	if s := r.Status.Selector; s != "" {
		parsed, err := labels.Parse(s)
		if err != nil {
			return Target{}, fmt.Errorf("realm %s/%s: status.selector %q: %w", c.Namespace, realm, s, err)
		}
		selector = parsed
	}
	pods, err := c.Core.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return Target{}, fmt.Errorf("server pods of realm %s/%s: %w", c.Namespace, realm, err)
	}
	pod, err := pickPod(pods.Items, r.Status.ConfigHash)
	if err != nil {
		return Target{}, fmt.Errorf("realm %s/%s: %w", c.Namespace, realm, err)
	}
	t, err := ServerTarget(pod)
	if err != nil {
		return Target{}, fmt.Errorf("realm %s/%s: pod %s: %w", c.Namespace, realm, pod.Name, err)
	}
	t.Realm = realm
	return t, nil
}

// pickPod returns a ready pod, preferring one of the current config (a rollout may still run
// old ones, which are as good for latch admin but will be gone sooner), then by name, so the
// choice is stable. With none, the error says what each pod is doing.
func pickPod(pods []corev1.Pod, configHash string) (*corev1.Pod, error) {
	var ready []*corev1.Pod
	var notReady []string
	for i := range pods {
		p := &pods[i]
		if why := unready(p); why != "" {
			notReady = append(notReady, p.Name+" "+why)
			continue
		}
		ready = append(ready, p)
	}
	if len(ready) == 0 {
		if len(pods) == 0 {
			return nil, errors.New("no ready server pod: the realm has no server pods")
		}
		sort.Strings(notReady)
		return nil, fmt.Errorf("no ready server pod (%s)", strings.Join(notReady, "; "))
	}
	sort.SliceStable(ready, func(i, j int) bool {
		ci := configHash != "" && ready[i].Annotations[authv1.ConfigHashAnnotation] == configHash
		cj := configHash != "" && ready[j].Annotations[authv1.ConfigHashAnnotation] == configHash
		if ci != cj {
			return ci
		}
		return ready[i].Name < ready[j].Name
	})
	return ready[0], nil
}

// unready says why a pod cannot run latch admin, or "" when it can: running, Ready, not being
// deleted, and its server container running.
func unready(p *corev1.Pod) string {
	switch {
	case p.DeletionTimestamp != nil:
		return "is terminating"
	case p.Status.Phase != corev1.PodRunning:
		return "is " + strings.ToLower(string(orUnknown(p.Status.Phase)))
	}
	ok := false
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			ok = c.Status == corev1.ConditionTrue
		}
	}
	if !ok {
		return "is not ready"
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == serverContainer && cs.State.Running == nil {
			return "has its server container not running"
		}
	}
	return ""
}

func orUnknown(p corev1.PodPhase) corev1.PodPhase {
	if p == "" {
		return corev1.PodUnknown
	}
	return p
}

// ServerTarget is where latch admin runs in pod p: its server container, the binary, and the
// config that container's server was started with (`server --config FILE`), read from the
// pod's own spec, so it is the file this server reads wherever the operator mounts it.
func ServerTarget(p *corev1.Pod) (Target, error) {
	for _, c := range p.Spec.Containers {
		if c.Name != serverContainer {
			continue
		}
		path := flagValue(append(append([]string{}, c.Command...), c.Args...), "--config")
		if path == "" {
			return Target{}, fmt.Errorf("container %s runs no --config FILE (command %q, args %q)", c.Name, c.Command, c.Args)
		}
		t := Target{Namespace: p.Namespace, Pod: p.Name, Container: c.Name, Binary: serverBinary, ConfigPath: path}
		if len(c.Command) > 0 {
			t.Binary = c.Command[0]
		}
		return t, nil
	}
	return Target{}, fmt.Errorf("no container named %q", serverContainer)
}

// flagValue is the value of "--name VALUE" or "--name=VALUE" in argv.
func flagValue(argv []string, name string) string {
	for i, a := range argv {
		if a == name && i+1 < len(argv) {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}
