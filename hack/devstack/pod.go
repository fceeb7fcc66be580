package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/latchauth/latch/internal/childproc"
)

// Starting one replica: what a kubelet does between "schedule this pod" and "the container
// runs", done with the pure functions of materialize.go.

// start materializes the pod of replica index of d and starts its process.
func (k *kubelet) start(ctx context.Context, d *appsv1.Deployment, hash string, index int) (*instance, error) {
	spec := &d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		return nil, fmt.Errorf("the pod has %d containers; the devstack runs pods of exactly one", len(spec.Containers))
	}
	c := &spec.Containers[0]
	src, err := k.readSources(ctx, d.Namespace, spec, c)
	if err != nil {
		return nil, err
	}
	layout, err := layoutVolumes(spec, c, src)
	if err != nil {
		return nil, err
	}
	key := types.NamespacedName{Namespace: d.Namespace, Name: d.Name}
	ports, err := k.ports.ports(fmt.Sprintf("%s/%d", key, index))
	if err != nil {
		return nil, err
	}
	podName := fmt.Sprintf("%s-%s-%d", d.Name, hash, index)
	podDir := filepath.Join(k.dir, d.Namespace, podName)
	if err := writeLayout(podDir, layout); err != nil {
		return nil, err
	}

	containerConfig, err := configArg(c)
	if err != nil {
		return nil, err
	}
	hostConfig, ok := hostPath(layout.Mounts, podDir, containerConfig)
	if !ok {
		return nil, fmt.Errorf("--config %s is in no mounted volume", containerConfig)
	}
	raw, err := os.ReadFile(hostConfig)
	if err != nil {
		return nil, fmt.Errorf("read the mounted config: %w", err)
	}
	portMap, err := containerPorts(raw, ports)
	if err != nil {
		return nil, err
	}
	rewritten, err := rewriteConfig(raw, layout.Mounts, podDir, childproc.Loopback(ports.Public), childproc.Loopback(ports.Admin))
	if err != nil {
		return nil, err
	}
	configCopy := filepath.Join(podDir, "config.json")
	if err := os.WriteFile(configCopy, rewritten, 0o600); err != nil {
		return nil, fmt.Errorf("write the local config: %w", err)
	}
	args, err := serverArgs(c, layout.Mounts, podDir, configCopy)
	if err != nil {
		return nil, err
	}
	env, err := containerEnv(c, src, podIdentity{Name: podName, Namespace: d.Namespace, ServiceAccount: spec.ServiceAccountName})
	if err != nil {
		return nil, err
	}
	// A pod's own HOME, and its /tmp when it mounts one: nothing of the host's environment
	// leaks into the process, as nothing of a node's leaks into a container.
	env = append(env, "HOME="+podDir)
	if tmp, ok := hostPath(layout.Mounts, podDir, "/tmp"); ok {
		env = append(env, "TMPDIR="+tmp)
	}
	grace := defaultGrace
	if g := spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}

	in := &instance{
		deployment:   key,
		index:        index,
		templateHash: hash,
		configHash:   d.Spec.Template.Annotations[configHashAnnotation],
		ports:        ports,
		dir:          podDir,
		probeDone:    make(chan struct{}),
	}
	name := fmt.Sprintf("%s-%d", d.Name, index)
	in.sup = supervise(command{Name: name, Path: k.binary, Args: args, Env: env, Dir: podDir}, k.log, grace, func() {
		in.ready.Store(false)
		k.kick()
	})
	probeURL, failures := readinessProbe(c, portMap, ports)
	pctx, cancel := context.WithCancel(context.Background())
	in.stopProbe = cancel
	go func() {
		defer close(in.probeDone)
		probe(pctx, probeURL, failures, &in.ready, k.kick)
	}()
	k.log.logf("%s: replica %d started from config hash %s: public http://%s admin http://%s",
		key, index, shortHash(in.configHash), childproc.Loopback(ports.Public), childproc.Loopback(ports.Admin))
	return in, nil
}

// readSources reads the ConfigMaps and Secrets the pod references; one that does not exist
// is left out, for layoutVolumes to refuse unless it is optional.
func (k *kubelet) readSources(ctx context.Context, ns string, spec *corev1.PodSpec, c *corev1.Container) (volumeSources, error) {
	cms, secs := references(spec, c)
	src := volumeSources{ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]*corev1.Secret{}}
	for _, n := range cms {
		cm := &corev1.ConfigMap{}
		switch err := k.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: n}, cm); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return volumeSources{}, fmt.Errorf("get ConfigMap %s/%s: %w", ns, n, err)
		default:
			src.ConfigMaps[n] = cm
		}
	}
	for _, n := range secs {
		s := &corev1.Secret{}
		switch err := k.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: n}, s); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return volumeSources{}, fmt.Errorf("get Secret %s/%s: %w", ns, n, err)
		default:
			src.Secrets[n] = s
		}
	}
	return src, nil
}

// writeLayout writes a pod's volumes under podDir, replacing what an earlier process of the
// same pod left.
func writeLayout(podDir string, l podLayout) error {
	if err := os.RemoveAll(podDir); err != nil {
		return fmt.Errorf("clear the pod directory: %w", err)
	}
	for _, d := range l.Dirs {
		if err := os.MkdirAll(filepath.Join(podDir, filepath.FromSlash(d)), 0o755); err != nil {
			return fmt.Errorf("create volume directory: %w", err)
		}
	}
	for _, f := range l.Files {
		p := filepath.Join(podDir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create volume directory: %w", err)
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			return fmt.Errorf("write volume file: %w", err)
		}
		// WriteFile's mode is filtered by the umask; a volume file has exactly its mode.
		if err := os.Chmod(p, f.Mode); err != nil {
			return fmt.Errorf("write volume file: %w", err)
		}
	}
	return nil
}

// configArg is the container path of the server config, the value of --config.
func configArg(c *corev1.Container) (string, error) {
	for i, a := range c.Args {
		if (a == "--config" || a == "-config") && i+1 < len(c.Args) {
			return c.Args[i+1], nil
		}
		for _, p := range []string{"--config=", "-config="} {
			if v, ok := strings.CutPrefix(a, p); ok {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("container %q has no --config argument", c.Name)
}

// containerPorts maps the ports the container's config listens on to the replica's
// loopback ports, so a probe or a port named in the template reaches the right one.
func containerPorts(raw []byte, ports replicaPorts) (map[int32]int, error) {
	var c struct {
		Listen struct{ Public, Admin string } `json:"listen"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("read the listen addresses of the mounted config: %w", err)
	}
	out := map[int32]int{}
	for _, l := range []struct {
		addr  string
		local int
	}{{c.Listen.Public, ports.Public}, {c.Listen.Admin, ports.Admin}} {
		if l.addr == "" {
			continue
		}
		_, p, err := net.SplitHostPort(l.addr)
		if err != nil {
			return nil, fmt.Errorf("listen address %q of the mounted config: %w", l.addr, err)
		}
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("listen address %q of the mounted config: %w", l.addr, err)
		}
		out[int32(n)] = l.local
	}
	return out, nil
}
