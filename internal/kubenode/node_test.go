package kubenode

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/latchauth/latch/internal/childproc"
)

// The tests start real nodes: they need root, as `make test` runs (CI is this machine, as
// root). Each one records the host first and checks, after the node is gone, that the host is
// as recorded, with the same snapshot Start takes and, beyond it, the top-level entries of the
// directories a component might write by default and every process of the node.

// hostView is what a test compares before and after a node.
type hostView struct {
	state *hostState
	dirs  map[string][]string
}

// wideDirs are directories whose entries must not change: where a default path of the
// kubelet, containerd or the CNI plugins would land, had the node's config missed one. /etc
// is left out: a package another test installs meanwhile (the end-to-end test's chromium)
// adds to it; the node's own defaults there (/etc/cni, /etc/containerd, /etc/cdi) are in
// hostPaths.
var wideDirs = []string{"/var/lib", "/var/log", "/run", "/opt"}

func viewHost(t *testing.T) hostView {
	t.Helper()
	// No other test process's node may come or go between this view and the one it is
	// compared with.
	HoldHostT(t)
	s, err := snapshotHost()
	if err != nil {
		t.Fatal(err)
	}
	v := hostView{state: s, dirs: map[string][]string{}}
	for _, d := range wideDirs {
		v.dirs[d] = readPath(d).Entries
	}
	return v
}

// assertHostRestored fails the test with every difference between the host now and before.
func assertHostRestored(t *testing.T, before hostView, dir string) {
	t.Helper()
	now := viewHost(t)
	for _, d := range before.state.diff(now.state) {
		t.Errorf("host not restored: %s", d)
	}
	for _, d := range wideDirs {
		if add, del := setDiff(before.dirs[d], now.dirs[d]); len(add)+len(del) > 0 {
			t.Errorf("host not restored: %s: new entries %q, gone %q", d, add, del)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the state directory %s is still there (%v)", dir, err)
	}
	if pids := nodeProcesses(dir); len(pids) > 0 {
		t.Errorf("processes of the node survive: %v", pids)
	}
}

// nodeProcesses are the live processes whose command line names dir or that sit in the node's
// cgroups.
func nodeProcesses(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range procs {
		b, _ := os.ReadFile(c)
		if strings.Contains(string(b), dir+"/") {
			out = append(out, filepath.Base(filepath.Dir(c))+" "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	for _, mp := range cgroupMounts() {
		if _, err := os.Stat(filepath.Join(mp, cgroupRootName)); err == nil {
			out = append(out, "cgroup "+filepath.Join(mp, cgroupRootName)+" exists")
		}
	}
	return out
}

// testDir is a state directory of the tests' own, so that a node a developer runs from the
// default directory makes the test fail clearly (the bridge is taken) rather than be stopped.
func testDir() string { return "/var/lib/latch-node-test" }

const testNamespace = "kubenode-test"

// TestNode brings a node up, runs a hardened latch server against a Redis StatefulSet whose
// data is on a claim of the default StorageClass, reaching it by its Service's name through
// CoreDNS from inside the pod, checks the pods run as their security contexts say, and stops
// the node, after which the host must be as it was.
func TestNode(t *testing.T) {
	before := viewHost(t)
	dir := testDir()
	n := StartT(t, Options{StateDir: dir, BuildImages: true, Timeout: 4 * time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cs := n.Client()

	t.Run("one node per host", func(t *testing.T) {
		if _, err := Start(ctx, Options{StateDir: dir, Wait: -1}); err == nil || !strings.Contains(err.Error(), "already running") {
			t.Errorf("a second Start on the running node's directory: %v, want it refused as already running", err)
		}
		other := filepath.Join(t.TempDir(), "other")
		if _, err := Start(ctx, Options{StateDir: other, Wait: -1}); err == nil || !strings.Contains(err.Error(), "already running on this host") {
			t.Errorf("a second node from another directory: %v, want it refused as already running", err)
		}
		// The default is to wait for it, within Wait and the context.
		begin := time.Now()
		if _, err := Start(ctx, Options{StateDir: other, Wait: 2 * time.Second, Progress: &testLog{t: t}}); err == nil || !strings.Contains(err.Error(), "still runs after 2s") || time.Since(begin) < 2*time.Second {
			t.Errorf("a second node waiting 2 s: %v after %s, want it to give up after 2 s", err, time.Since(begin))
		}
		wctx, wcancel := context.WithTimeout(ctx, time.Second)
		defer wcancel()
		if _, err := Start(wctx, Options{StateDir: other, Progress: &testLog{t: t}}); err == nil || !strings.Contains(err.Error(), "waiting for the host: context deadline exceeded") {
			t.Errorf("a second node whose context ends while it waits: %v", err)
		}
		if _, err := os.Stat(other); !os.IsNotExist(err) {
			t.Errorf("a refused Start left %s (%v)", other, err)
		}
		if st, err := Status(dir); err != nil || !st.Running || st.PID != os.Getpid() {
			t.Errorf("Status(%s) = %+v, %v; want running by this process", dir, st, err)
		}
	})

	t.Run("versions", func(t *testing.T) {
		v, err := cs.Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := "v1.36.3"
		if v.GitVersion != want || node.Status.NodeInfo.KubeletVersion != want {
			t.Errorf("API server %s, kubelet %s; want %s for both", v.GitVersion, node.Status.NodeInfo.KubeletVersion, want)
		}
		if got := node.Status.NodeInfo.ContainerRuntimeVersion; got != "containerd://2.2.1" {
			t.Errorf("container runtime %s, want containerd://2.2.1", got)
		}
	})

	t.Run("ImportImages", func(t *testing.T) {
		root, err := FindRoot()
		if err != nil {
			t.Fatal(err)
		}
		refs, err := n.ImportImages(ctx, filepath.Join(root, "bin", "images", "pause.tar"))
		if err != nil || len(refs) != 1 || refs[0] != n.imageRef("pause") {
			t.Errorf("ImportImages(pause.tar) = %v, %v; want [%s]", refs, err, n.imageRef("pause"))
		}
	})

	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	redisClaimDir := ""
	t.Run("Redis StatefulSet on a claim of the default StorageClass", func(t *testing.T) {
		if err := createRedis(ctx, cs, n.imageRef("redis")); err != nil {
			t.Fatal(err)
		}
		waitPodReady(ctx, t, cs, "redis-0")
		pvc, err := cs.CoreV1().PersistentVolumeClaims(testNamespace).Get(ctx, "data-redis-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pvc.Status.Phase != corev1.ClaimBound || ptr.Deref(pvc.Spec.StorageClassName, "") != StorageClassName {
			t.Fatalf("claim %s: phase %s, class %v; want Bound, %s", pvc.Name, pvc.Status.Phase, pvc.Spec.StorageClassName, StorageClassName)
		}
		pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		redisClaimDir = pv.Spec.HostPath.Path
		// Redis wrote its append-only file into the claim's directory, as user 999.
		waitFor(ctx, t, "Redis's appendonlydir in "+redisClaimDir, func() error {
			_, err := os.Stat(filepath.Join(redisClaimDir, "appendonlydir"))
			return err
		})
		logs, err := cs.CoreV1().Pods(testNamespace).GetLogs("redis-0", &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil || !strings.Contains(string(logs), "Ready to accept connections") {
			t.Errorf("redis-0's logs through the kubelet: %v\n%s", err, logs)
		}
		checkProcess(t, "redis-server", 999)
	})

	t.Run("hardened latch server reaches Redis by its Service name", func(t *testing.T) {
		if err := createLatch(ctx, cs, n.imageRef("latch")); err != nil {
			t.Fatal(err)
		}
		// Ready means /readyz pinged Redis at redis:6379: the pod's resolver asked CoreDNS
		// (search path kubenode-test.svc.cluster.local), and kube-proxy's rules took the
		// ClusterIP to the StatefulSet's pod.
		pod := waitPodReady(ctx, t, cs, "latch")
		checkProcess(t, "/latch", 65532)
		// The pod network is reachable from the host.
		if err := childproc.GetOK(ctx, "http://"+net.JoinHostPort(pod.Status.PodIP, "9090")+"/readyz"); err != nil {
			t.Errorf("the latch pod's /readyz from the host: %v", err)
		}
	})

	t.Run("CoreDNS answers for Services", func(t *testing.T) {
		svc, err := cs.CoreV1().Services(testNamespace).Get(ctx, "redis", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ips, err := Resolver().LookupHost(ctx, "redis."+testNamespace+".svc."+ClusterDomain)
		if err != nil || !slices.Contains(ips, svc.Spec.ClusterIP) {
			t.Errorf("redis.%s.svc resolves to %v (%v), want %s", testNamespace, ips, err, svc.Spec.ClusterIP)
		}
	})

	t.Run("a released claim's volume is deleted", func(t *testing.T) {
		if redisClaimDir == "" {
			t.Fatal("no claim from the Redis test")
		}
		if err := cs.AppsV1().StatefulSets(testNamespace).Delete(ctx, "redis", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
			t.Fatal(err)
		}
		waitFor(ctx, t, "redis-0 gone", func() error {
			if _, err := cs.CoreV1().Pods(testNamespace).Get(ctx, "redis-0", metav1.GetOptions{}); err == nil {
				return fmt.Errorf("redis-0 still there")
			}
			return nil
		})
		if err := cs.CoreV1().PersistentVolumeClaims(testNamespace).Delete(ctx, "data-redis-0", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(ctx, t, "the volume directory removed", func() error {
			if _, err := os.Stat(redisClaimDir); err == nil {
				return fmt.Errorf("%s still there", redisClaimDir)
			}
			return nil
		})
	})

	start := time.Now()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop took %.1f s", time.Since(start).Seconds())
	assertHostRestored(t, before, dir)
}

// checkProcess finds the one process whose command line starts with prog (as an argument, or
// as the title Redis rewrites its command line to: "redis-server *:6379") and checks it runs
// as the restricted security context asks: uid, no capabilities, no_new_privs, a seccomp
// filter, a read-only root.
func checkProcess(t *testing.T, prog string, uid int) {
	t.Helper()
	var pid string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range procs {
		b, _ := os.ReadFile(c)
		if strings.HasPrefix(string(b), prog+"\x00") || strings.HasPrefix(string(b), prog+" ") {
			pid = filepath.Base(filepath.Dir(c))
		}
	}
	if pid == "" {
		t.Errorf("no process %s", prog)
		return
	}
	CheckRestrictedProcess(t, pid, uid)
}

func waitFor(ctx context.Context, t *testing.T, what string, check func() error) {
	t.Helper()
	if err := childproc.Poll(ctx, 100*time.Millisecond, func(context.Context) error { return check() }); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func waitPodReady(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	err := childproc.Poll(ctx, 100*time.Millisecond, func(ctx context.Context) error {
		var err error
		if pod, err = cs.CoreV1().Pods(testNamespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return err
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("pod %s not Ready: phase %s, %+v", name, pod.Status.Phase, pod.Status.ContainerStatuses)
	})
	if err != nil {
		evs, _ := cs.CoreV1().Events(testNamespace).List(context.WithoutCancel(ctx), metav1.ListOptions{})
		for _, e := range evs.Items {
			t.Logf("event %s %s/%s: %s", e.Reason, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message)
		}
		t.Fatal(err)
	}
	return pod
}

func restrictedPod(uid int64) *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(uid), RunAsGroup: ptr.To(uid), FSGroup: ptr.To(uid),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// restrictedContainer is the chart's container security context (charts/latch/templates).
func restrictedContainer() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
		RunAsNonRoot: ptr.To(true), Privileged: ptr.To(false),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// createRedis is a one-replica StatefulSet of the node's Redis image with its data on a claim
// of the default StorageClass, and a ClusterIP Service, as the operator's managed Redis is.
func createRedis(ctx context.Context, cs kubernetes.Interface, image string) error {
	labels := map[string]string{"app": "redis"}
	if _, err := cs.CoreV1().Services(testNamespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "redis"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "redis", Port: 6379, TargetPort: intstr.FromInt32(6379)}}},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err := cs.AppsV1().StatefulSets(testNamespace).Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "redis"},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "redis",
			Replicas:    ptr.To[int32](1),
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SecurityContext:               restrictedPod(999),
					TerminationGracePeriodSeconds: ptr.To[int64](2),
					Containers: []corev1.Container{{
						Name:            "redis",
						Image:           image,
						ImagePullPolicy: corev1.PullNever,
						Args:            []string{"redis-server", "--port", "6379", "--protected-mode", "no", "--appendonly", "yes", "--dir", "/data"},
						VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
						SecurityContext: restrictedContainer(),
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"redis-cli", "-e", "-p", "6379", "ping"}}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: mustQuantity("64Mi")}},
				},
			}},
		},
	}, metav1.CreateOptions{})
	return err
}

// createLatch is a latch server pod as the operator renders one: the chart's security
// context, the config from a ConfigMap, the token hash key from a Secret file.
func createLatch(ctx context.Context, cs kubernetes.Interface, image string) error {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if _, err := cs.CoreV1().Secrets(testNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "latch"},
		Data:       map[string][]byte{"token-hash-key": []byte(hex.EncodeToString(key))},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	config := `{
  "realm": "kubenode-test",
  "listen": {"public": ":8080", "admin": ":9090"},
  "redis": {"addresses": ["redis:6379"]},
  "tokenHashKey": {"file": "/etc/latch/secrets/token-hash-key"},
  "protocols": {"bearerToken": {}}
}`
	if _, err := cs.CoreV1().ConfigMaps(testNamespace).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "latch"}, Data: map[string]string{"config.json": config},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(9090)}},
			PeriodSeconds: 1,
		}
	}
	_, err := cs.CoreV1().Pods(testNamespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "latch"},
		Spec: corev1.PodSpec{
			SecurityContext:               restrictedPod(65532),
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers: []corev1.Container{{
				Name:            "server",
				Image:           image,
				ImagePullPolicy: corev1.PullNever,
				Args:            []string{"server", "--config", "/etc/latch/config/config.json"},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "config", MountPath: "/etc/latch/config", ReadOnly: true},
					{Name: "secrets", MountPath: "/etc/latch/secrets", ReadOnly: true},
				},
				SecurityContext: restrictedContainer(),
				ReadinessProbe:  probe("/readyz"),
				LivenessProbe:   probe("/healthz"),
			}},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "latch"}}}},
				{Name: "secrets", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "latch", DefaultMode: ptr.To[int32](0o400)}}},
			},
		},
	}, metav1.CreateOptions{})
	return err
}

// TestStartsWaitForEachOther starts a node while another runs (go test ./... runs the packages
// that start nodes side by side, and one node runs per host): the second Start waits for the
// first node to stop, then comes up.
func TestStartsWaitForEachOther(t *testing.T) {
	before := viewHost(t)
	first := StartT(t, Options{StateDir: testDir(), Timeout: 4 * time.Minute})
	second := testDir() + "-second"
	type started struct {
		n   *Node
		err error
		at  time.Time
	}
	done := make(chan started, 1)
	progress := &lineRecorder{t: t}
	go func() {
		n, err := Start(t.Context(), Options{StateDir: second, Timeout: 4 * time.Minute, Wait: 3 * time.Minute, Progress: progress})
		done <- started{n, err, time.Now()}
	}()
	time.Sleep(3 * time.Second) // the second Start is waiting by now
	select {
	case s := <-done:
		t.Fatalf("the second Start returned while the first node runs: %v", s.err)
	default:
	}
	if !progress.contains("waiting for the node of another test to stop") {
		t.Errorf("the waiting Start did not say it waits; it said %q", progress.String())
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	var s started
	select {
	case s = <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("the second Start did not return within 5 minutes of the first node's stop")
	}
	if s.err != nil {
		t.Fatalf("the second Start, after the first node stopped: %v", s.err)
	}
	t.Cleanup(func() { _ = s.n.Stop() })
	t.Logf("the second node was Ready %.1f s after the first stopped", s.at.Sub(stopped).Seconds())
	if _, err := s.n.Client().CoreV1().Nodes().Get(t.Context(), NodeName, metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	if err := s.n.Stop(); err != nil {
		t.Fatal(err)
	}
	assertHostRestored(t, before, second)
}

// lineRecorder keeps what a Start reports, and logs it.
type lineRecorder struct {
	t   *testing.T
	mu  sync.Mutex
	buf strings.Builder
}

func (r *lineRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.t.Log(strings.TrimRight(string(p), "\n"))
	return r.buf.Write(p)
}

func (r *lineRecorder) contains(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Contains(r.buf.String(), s)
}

func (r *lineRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// A directory that is neither empty nor a node's is not taken for a state directory: Start and
// Down empty theirs and kill what names it.
func TestStateDirectoryMustBeANodes(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "precious"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(t.Context(), Options{StateDir: dir}); err == nil || !strings.Contains(err.Error(), "not a node's state directory") {
		t.Errorf("Start on a foreign directory: %v", err)
	}
	if err := Down(dir, &testLog{t: t}); err == nil || !strings.Contains(err.Error(), "not a node's state directory") {
		t.Errorf("Down on a foreign directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "precious")); err != nil {
		t.Errorf("the directory's file is gone: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	if err := Down(missing, &testLog{t: t}); err != nil {
		t.Errorf("Down of a directory that does not exist: %v", err)
	}
}

// TestStartFailingHalfWayRestoresTheHost makes Start fail once the node is Ready and CoreDNS's
// pod is being started: Start must undo everything before it returns.
func TestStartFailingHalfWayRestoresTheHost(t *testing.T) {
	before := viewHost(t)
	dir := testDir()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	_, err := Start(ctx, Options{StateDir: dir, failAt: "kubelet", Progress: &testLog{t: t}})
	if err == nil || !strings.Contains(err.Error(), "as the test asked") {
		t.Fatalf("Start = %v, want the injected failure", err)
	}
	assertHostRestored(t, before, dir)
}

// helperEnv makes the test binary, run again, a process that starts a node, says so and waits
// to be killed: a test run killed with its node up.
const helperEnv = "KUBENODE_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		n, err := Start(context.Background(), Options{StateDir: testDir(), Timeout: 4 * time.Minute})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("up", n.StateDir())
		select {}
	}
	os.Exit(m.Run())
}

// TestDownAfterAKilledNode kills the process that started a node (SIGKILL: nothing of it
// runs), which leaves the pods, the shims, the mounts and the rest on the host, and checks
// that Down undoes all of it from the record.
func TestDownAfterAKilledNode(t *testing.T) {
	before := viewHost(t)
	dir := testDir()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = &testLog{t: t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = Down(dir, &testLog{t: t}) })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "up ") {
		t.Fatalf("the helper did not bring its node up: %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// What outlives the helper: CoreDNS's processes and their shim, the bridge, the mounts.
	if left := nodeProcesses(dir); len(left) == 0 {
		t.Error("nothing of the killed node survives it: the test does not test Down")
	}
	if st, err := Status(dir); err != nil || st.Running || !st.Leftover {
		t.Errorf("Status after the kill = %+v, %v; want not running, leftover", st, err)
	}
	if err := Down(dir, &testLog{t: t}); err != nil {
		t.Fatal(err)
	}
	assertHostRestored(t, before, dir)
}
