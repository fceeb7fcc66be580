package kubenode

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/distribution/reference"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/latchauth/latch/internal/childproc"
)

// DefaultStateDir is where a node keeps everything (certificates, etcd, containerd, the
// kubelet's root, volumes, logs, the kubeconfig) unless Options.StateDir says otherwise.
const DefaultStateDir = "/var/lib/latch-node"

// Options configure Start. The zero value starts the node of the repository it runs in.
type Options struct {
	// StateDir is the node's directory, DefaultStateDir if empty. It is removed by Stop.
	StateDir string
	// Root is the repository root (hack/tools.sh, bin/images); found from the working
	// directory if empty.
	Root string
	// Tools are the node's programs; found by FindTools if zero.
	Tools Tools
	// Images are OCI image tarballs imported into containerd before the kubelet starts. nil
	// means the four of bin/images (latch, pause, redis, coredns), built by hack/images when
	// any is missing or BuildImages is set. The pause and coredns images are required.
	Images []string
	// BuildImages runs hack/images before the import even when bin/images is complete, so the
	// latch image is the working tree's (hack/images caches by content: seconds when warm).
	BuildImages bool
	// Progress receives one line per step with the seconds since Start; nil is os.Stderr.
	Progress io.Writer
	// Timeout bounds Start once the host is free; 0 is 5 minutes.
	Timeout time.Duration
	// Wait bounds how long Start waits for the node of another test process, or of another
	// Start in this process, to stop (one node runs per host, and `go test ./...` runs the
	// packages that start one side by side); 0 is DefaultWait, negative refuses at once. A
	// node of any other process (hack/node up) is refused at once.
	Wait time.Duration
	// failAt makes Start fail after the step of that name ("prepared", "runtime",
	// "kubelet"), so a test sees what a failure half-way leaves.
	failAt string
}

// Node is a running single-node cluster. Its methods may be called from any goroutine.
type Node struct {
	l       layout
	tools   Tools
	out     io.Writer
	start   time.Time
	lock    *os.File
	host    *os.File // the host lock, held from Start to the end of Stop
	before  *hostState
	pki     *pki
	cfg     *rest.Config
	cs      kubernetes.Interface
	images  []string
	cancel  context.CancelFunc // stops the provisioner
	bg      sync.WaitGroup
	mu      sync.Mutex
	procs   map[string]*childproc.Process
	stopped sync.Once
	stopErr error
}

// component names, which are also the log files' names.
const (
	cEtcd       = "etcd"
	cAPIServer  = "kube-apiserver"
	cKCM        = "kube-controller-manager"
	cScheduler  = "kube-scheduler"
	cContainerd = "containerd"
	cKubelet    = "kubelet"
	cKubeProxy  = "kube-proxy"
)

// Start brings a node up and returns once it is Ready, CoreDNS answers and the default
// StorageClass exists. It must run as root. On failure it undoes everything it did, and
// the error carries the failing component's last log lines.
//
// Only one node runs per host. When a node of another test process (or of this process) runs,
// Start first waits for it to stop, up to o.Wait, saying so on o.Progress; it fails at once
// when the running node is another process's (hack/node up), and when the node's bridge or
// cgroup root exists without a state directory that recorded them.
// When the state directory holds what a crashed node left, Start first cleans that up, as
// Down would.
func Start(ctx context.Context, o Options) (*Node, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("kubenode: the node needs root (it mounts, creates cgroups, a bridge and iptables rules)")
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	dir := o.StateDir
	if dir == "" {
		dir = DefaultStateDir
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	out := o.Progress
	if out == nil {
		out = os.Stderr
	}
	// A directory that cannot be a node's is refused before waiting for the host.
	if _, err := os.Stat(dir); err == nil {
		if err := checkStateDir(dir); err != nil {
			return nil, err
		}
	}
	host, err := lockHost(ctx, dir, o.Wait, out)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	n := &Node{l: layout{dir}, out: out, start: time.Now(), procs: map[string]*childproc.Process{}, host: host}
	if n.lock, err = lockDir(dir, out); err != nil {
		_ = host.Close()
		return nil, err
	}
	if err := n.up(ctx, o); err != nil {
		n.say("start failed: %v", err)
		n.say("undoing what the node did")
		if serr := n.Stop(); serr != nil {
			err = fmt.Errorf("%w; and the cleanup after it: %w", err, serr)
		}
		return nil, err
	}
	return n, nil
}

// lockDir creates and locks the state directory, cleaning up what a crashed node left in it.
func lockDir(dir string, out io.Writer) (*os.File, error) {
	_, statErr := os.Stat(dir)
	created := os.IsNotExist(statErr)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	// refuse leaves no directory this call created.
	refuse := func(err error) (*os.File, error) {
		_ = f.Close()
		if created {
			_ = os.Remove(dir)
		}
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(filepath.Join(dir, "pid"))
		return refuse(fmt.Errorf("kubenode: a node is already running from %s (pid %s); stop it first (go run ./hack/node down)", dir, strings.TrimSpace(string(pid))))
	}
	if err := checkStateDir(dir); err != nil {
		return refuse(err)
	}
	if _, err := os.Stat(filepath.Join(dir, hostStateFile)); err == nil {
		fmt.Fprintf(out, "[node] %s holds what a node that did not stop left behind; cleaning it up first\n", dir)
		if err := cleanup(dir); err != nil {
			return refuse(fmt.Errorf("kubenode: clean up the earlier node in %s: %w", dir, err))
		}
	} else if err := clearDir(dir); err != nil {
		// Anything else here is from a node that crashed before it changed the host.
		return refuse(err)
	}
	// The bridge and the cgroup root are one per host; here without a record, they are another
	// node's, from another state directory.
	if _, err := os.Stat(filepath.Join("/sys/class/net", bridgeName)); err == nil {
		return refuse(fmt.Errorf("kubenode: the bridge %s exists but %s recorded no node: another node (another state directory?) runs on this host; stop it first", bridgeName, dir))
	}
	for _, mp := range cgroupMounts() {
		if _, err := os.Stat(filepath.Join(mp, cgroupRootName)); err == nil {
			return refuse(fmt.Errorf("kubenode: the cgroup %s exists but %s recorded no node: another node runs on this host; stop it first", filepath.Join(mp, cgroupRootName), dir))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return refuse(err)
	}
	return f, nil
}

// checkStateDir refuses a directory that is neither empty nor a node's (it has the pid file
// Start writes first): Start and Down empty the state directory, and Down kills every process
// whose command line names it, which must not happen to a directory mistyped after -dir.
func checkStateDir(dir string) error {
	if dir == "/" {
		return errors.New("kubenode: / cannot be a state directory")
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "pid")); err != nil {
		return fmt.Errorf("kubenode: %s is not empty and not a node's state directory (no pid file): refusing to use it", dir)
	}
	return nil
}

// clearDir removes what dir holds, keeping dir (and so the lock on it).
func clearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// cleanup undoes what the node of dir changed on the host, from its record, and empties dir.
func cleanup(dir string) error {
	before, err := loadHostState(filepath.Join(dir, hostStateFile))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var errs []error
	if err := restoreHost(dir, before); err != nil {
		errs = append(errs, err)
	}
	// The record goes last of all, and only once the host is back as it was: should this
	// fail half-way, the next Start or Down tries again from it.
	if len(errs) == 0 {
		if err := clearDir(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (n *Node) say(format string, args ...any) {
	fmt.Fprintf(n.out, "[node] %5.1fs  %s\n", time.Since(n.start).Seconds(), fmt.Sprintf(format, args...))
}

func (n *Node) up(ctx context.Context, o Options) error {
	root := o.Root
	if root == "" {
		var err error
		if root, err = FindRoot(); err != nil && (o.Tools == (Tools{}) || o.Images == nil) {
			return err
		}
	}
	n.tools = o.Tools
	if n.tools == (Tools{}) {
		var err error
		if n.tools, err = FindTools(root, n.out); err != nil {
			return err
		}
	}
	images, err := n.findImages(ctx, root, o)
	if err != nil {
		return err
	}
	for _, im := range images {
		refs, err := tarballRefs(im)
		if err != nil {
			return err
		}
		n.addImages(refs)
	}
	if n.imageRef("pause") == "" || n.imageRef("coredns") == "" {
		return fmt.Errorf("the images %v hold no pause or no coredns image (refs %v)", images, n.Images())
	}
	n.say("tools and images found")

	// Nothing on the host has changed so far. From here on, what is recorded is what Stop
	// (or Down, after a crash) restores.
	if n.before, err = snapshotHost(); err != nil {
		return fmt.Errorf("record the host's state: %w", err)
	}
	if err := n.before.save(n.l.path(hostStateFile)); err != nil {
		return fmt.Errorf("record the host's state: %w", err)
	}
	if err := n.prepare(); err != nil {
		return err
	}
	if o.failAt == "prepared" {
		return errors.New("failing after the preparation, as the test asked")
	}
	n.say("certificates, configs, bridge %s (%s) and cgroup root /%s ready", bridgeName, NodeIP, cgroupRootName)

	// The control plane and containerd with its images come up side by side.
	var wg sync.WaitGroup
	var cpErr, crErr error
	wg.Go(func() { cpErr = n.controlPlane(ctx) })
	wg.Go(func() { crErr = n.runtime(ctx, images) })
	wg.Wait()
	if err := errors.Join(cpErr, crErr); err != nil {
		return err
	}
	if o.failAt == "runtime" {
		return errors.New("failing once the control plane and containerd run, as the test asked")
	}
	if err := n.kubelet(ctx); err != nil {
		return err
	}
	if o.failAt == "kubelet" {
		return errors.New("failing once the node is Ready, as the test asked")
	}
	pctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	p := &provisioner{cs: n.cs, dir: n.l.volumes(), report: func(err error) { n.say("provisioner: %v", err) }}
	n.bg.Go(func() { p.run(pctx) })
	if err := n.waitCoreDNS(ctx); err != nil {
		return err
	}
	n.say("node %s Ready; CoreDNS answers on %s; default StorageClass %q", NodeName, DNSServiceIP, StorageClassName)
	return nil
}

// findImages returns the tarballs to import, building the repository's when needed.
func (n *Node) findImages(ctx context.Context, root string, o Options) ([]string, error) {
	if o.Images != nil {
		return o.Images, nil
	}
	var tarballs []string
	missing := o.BuildImages
	for _, name := range []string{"latch", "pause", "redis", "coredns"} {
		p := filepath.Join(root, "bin", "images", name+".tar")
		if _, err := os.Stat(p); err != nil {
			missing = true
		}
		tarballs = append(tarballs, p)
	}
	if missing {
		n.say("building the images (go run ./hack/images)")
		cmd := exec.CommandContext(ctx, "go", "run", "./hack/images")
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = n.out, n.out
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go run ./hack/images: %w", err)
		}
	}
	return tarballs, nil
}

// prepare writes the certificates and configs, and creates the bridge and the cgroup root.
func (n *Node) prepare() error {
	l := n.l
	for _, d := range []string{l.logs(), l.cniConf(), l.volumes(), l.path("config"), l.path("pod-logs"), l.containerdDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	// The volumes directory is 0711: the pods' users reach their own volume's directory (0777)
	// under it, and cannot list the others.
	if err := os.Chmod(l.volumes(), 0o711); err != nil {
		return err
	}
	if err := os.Chmod(n.l.dir, 0o711); err != nil {
		return err
	}
	p, err := newPKI(l.pki())
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	n.pki = p
	nodeIP := net.ParseIP(NodeIP)
	apiServiceIP := net.ParseIP("10.96.0.1")
	certs := []certSpec{
		{name: "apiserver", cn: "kube-apiserver", server: true,
			dns: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + ClusterDomain, "localhost", NodeName},
			ips: []net.IP{nodeIP, apiServiceIP, net.ParseIP("127.0.0.1")}},
		{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, client: true},
		{name: "admin", cn: AdminUser, orgs: []string{"system:masters"}, client: true},
		{name: "kube-controller-manager", cn: "system:kube-controller-manager", client: true},
		{name: "kube-scheduler", cn: "system:kube-scheduler", client: true},
		{name: "kube-proxy", cn: "system:kube-proxy", client: true},
		{name: "kubelet", cn: "system:node:" + NodeName, orgs: []string{"system:nodes"}, client: true},
		{name: "kubelet-server", cn: NodeName, server: true, dns: []string{NodeName, "localhost"}, ips: []net.IP{nodeIP, net.ParseIP("127.0.0.1")}},
	}
	for _, c := range certs {
		if err := p.issue(c); err != nil {
			return err
		}
	}
	if err := p.serviceAccountKeys(); err != nil {
		return err
	}
	if err := writeKubeconfig(l.adminKubeconfig(), p, "admin", true); err != nil {
		return err
	}
	for _, c := range []string{cKCM, cScheduler, cKubeProxy, cKubelet} {
		if err := writeKubeconfig(l.kubeconfig(c), p, c, false); err != nil {
			return err
		}
	}
	if n.cfg, err = clientcmd.BuildConfigFromFlags("", l.adminKubeconfig()); err != nil {
		return err
	}
	n.cfg.QPS, n.cfg.Burst = 50, 100
	if n.cs, err = kubernetes.NewForConfig(n.cfg); err != nil {
		return err
	}
	if err := os.WriteFile(l.path("resolv.conf"), []byte(resolvConf()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(l.cniConf(), "10-latch-node.conflist"), []byte(cniConfig(l)), 0o644); err != nil {
		return err
	}
	// The bridge exists before the first pod, so the API server can listen on its address;
	// the CNI bridge plugin takes it over as it finds it.
	for _, args := range [][]string{
		{"link", "add", bridgeName, "type", "bridge"},
		{"addr", "add", NodeIP + "/24", "dev", bridgeName},
		{"link", "set", bridgeName, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return makeCgroups()
}

// run starts one component, its output in logs/NAME.log, in a process group of its own (so
// Stop reaches what it started) that dies with this process.
func (n *Node) run(name, path string, args ...string) (*childproc.Process, error) {
	p, err := childproc.Start(childproc.Spec{Path: path, Args: args, LogFile: n.l.log(name), Group: true})
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.procs[name] = p
	n.mu.Unlock()
	return p, nil
}

// ready waits for a started component until check passes, the component exits or ctx ends,
// returning an error that names it and shows how its log ends.
func (n *Node) ready(ctx context.Context, name string, p *childproc.Process, check func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	err := childproc.Poll(ctx, 20*time.Millisecond, check)
	if err == nil {
		n.say("%s ready", name)
		return nil
	}
	if p.Exited() {
		return fmt.Errorf("%s exited during startup (%v); last check: %v; its log ends:\n%s", name, p.Err(), err, p.Output())
	}
	return fmt.Errorf("%s not ready: %w; its log ends:\n%s", name, err, p.Output())
}

func freePorts(n int) ([]int, error) {
	var ps []int
	for range n {
		p, err := childproc.FreePort()
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// insecureGet is a readiness GET of a component's own self-signed HTTPS endpoint (its
// /healthz, which needs no credentials).
var insecureGet = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

func getOK(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error { return childproc.GetOKWith(ctx, client, url) }
}

// controlPlane starts etcd, kube-apiserver, then kube-controller-manager and kube-scheduler,
// and creates the addons.
func (n *Node) controlPlane(ctx context.Context) error {
	l, p := n.l, n.pki
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	client, peer, kcmPort, schedPort := ports[0], ports[1], ports[2], ports[3]
	clientURL, peerURL := "http://"+childproc.Loopback(client), "http://"+childproc.Loopback(peer)
	etcd, err := n.run(cEtcd, n.tools.Etcd,
		"--name", NodeName, "--data-dir", l.etcd(),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", NodeName+"="+peerURL,
		// A dev node's etcd need not survive a power cut; fsync would make every write wait
		// on the disk the other builds use.
		"--unsafe-no-fsync", "--log-level", "warn")
	if err != nil {
		return err
	}
	if err := n.ready(ctx, cEtcd, etcd, func(ctx context.Context) error { return childproc.GetOK(ctx, clientURL+"/health") }); err != nil {
		return err
	}
	api, err := n.run(cAPIServer, n.tools.KubeAPIServer,
		"--etcd-servers", clientURL,
		"--bind-address", NodeIP, "--advertise-address", NodeIP, "--secure-port", strconv.Itoa(APIServerPort),
		"--tls-cert-file", p.cert("apiserver"), "--tls-private-key-file", p.key("apiserver"),
		"--client-ca-file", p.ca(),
		"--kubelet-client-certificate", p.cert("apiserver-kubelet-client"), "--kubelet-client-key", p.key("apiserver-kubelet-client"),
		"--kubelet-certificate-authority", p.ca(),
		// The kubelet serves on the node's IP; without this the API server tries its
		// hostname first, which resolves to nothing here (kubectl logs, exec).
		"--kubelet-preferred-address-types", "InternalIP",
		"--service-account-issuer", "https://kubernetes.default.svc."+ClusterDomain,
		"--service-account-key-file", filepath.Join(l.pki(), "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(l.pki(), "sa.key"),
		"--service-cluster-ip-range", ServiceCIDR,
		"--authorization-mode", "Node,RBAC",
		"--enable-admission-plugins", "NodeRestriction",
		"--allow-privileged=true", "--profiling=false")
	if err != nil {
		return err
	}
	readyz := func(ctx context.Context) error {
		_, err := n.cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	}
	if err := n.ready(ctx, cAPIServer, api, readyz); err != nil {
		return err
	}
	kcmKC, schedKC := l.kubeconfig(cKCM), l.kubeconfig(cScheduler)
	kcm, err := n.run(cKCM, n.tools.kcm(),
		"--kubeconfig", kcmKC, "--authentication-kubeconfig", kcmKC, "--authorization-kubeconfig", kcmKC,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(kcmPort),
		"--root-ca-file", p.ca(), "--service-account-private-key-file", filepath.Join(l.pki(), "sa.key"),
		"--cluster-signing-cert-file", p.ca(), "--cluster-signing-key-file", p.key("ca"),
		"--use-service-account-credentials", "--leader-elect=false",
		"--service-cluster-ip-range", ServiceCIDR, "--cluster-name", NodeName, "--profiling=false")
	if err != nil {
		return err
	}
	sched, err := n.run(cScheduler, n.tools.scheduler(),
		"--kubeconfig", schedKC, "--authentication-kubeconfig", schedKC, "--authorization-kubeconfig", schedKC,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(schedPort), "--leader-elect=false", "--profiling=false")
	if err != nil {
		return err
	}
	if err := errors.Join(
		n.ready(ctx, cKCM, kcm, getOK(insecureGet, "https://"+childproc.Loopback(kcmPort)+"/healthz")),
		n.ready(ctx, cScheduler, sched, getOK(insecureGet, "https://"+childproc.Loopback(schedPort)+"/healthz")),
	); err != nil {
		return err
	}
	if err := addons(ctx, n.cs, n.imageRef("coredns"), resolvConf() != ""); err != nil {
		return err
	}
	n.say("CoreDNS and the default StorageClass created")
	return nil
}

// runtime starts containerd and imports the images.
func (n *Node) runtime(ctx context.Context, images []string) error {
	pause := n.imageRef("pause")
	conf := n.l.path("config", "containerd.toml")
	if err := os.WriteFile(conf, []byte(containerdConfig(n.l, n.tools, pause)), 0o600); err != nil {
		return err
	}
	cd, err := n.run(cContainerd, n.tools.containerd(), "--config", conf)
	if err != nil {
		return err
	}
	sock := n.l.containerdSock()
	err = n.ready(ctx, cContainerd, cd, func(ctx context.Context) error {
		c, err := (&net.Dialer{}).DialContext(ctx, "unix", sock)
		if err == nil {
			_ = c.Close()
		}
		return err
	})
	if err != nil {
		return err
	}
	if _, err := n.importImages(ctx, images); err != nil {
		return err
	}
	n.say("images imported: %s", strings.Join(n.Images(), " "))
	return nil
}

// addImages adds references to Images, once each.
func (n *Node) addImages(refs []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range refs {
		if !slices.Contains(n.images, r) {
			n.images = append(n.images, r)
		}
	}
}

// imageRef is the imported image whose repository ends in /name, "" if none.
func (n *Node) imageRef(name string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range n.images {
		if named, err := reference.ParseNormalizedNamed(r); err == nil && strings.HasSuffix(reference.Path(named), "/"+name) {
			return r
		}
	}
	return ""
}

// tarballRefs reads the image names an OCI layout tarball carries for containerd
// (io.containerd.image.name in index.json).
func tarballRefs(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%s: no index.json: %w", path, err)
		}
		if strings.TrimPrefix(h.Name, "./") != "index.json" {
			continue
		}
		var idx struct {
			Manifests []struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"manifests"`
		}
		if err := json.NewDecoder(tr).Decode(&idx); err != nil {
			return nil, fmt.Errorf("%s: index.json: %w", path, err)
		}
		var refs []string
		for _, m := range idx.Manifests {
			if r := m.Annotations["io.containerd.image.name"]; r != "" {
				refs = append(refs, r)
			}
		}
		if len(refs) == 0 {
			return nil, fmt.Errorf("%s: index.json names no image (io.containerd.image.name)", path)
		}
		return refs, nil
	}
}

func (n *Node) importImages(ctx context.Context, tarballs []string) ([]string, error) {
	var refs []string
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, t := range tarballs {
		wg.Go(func() {
			r, err := tarballRefs(t)
			if err == nil {
				var out []byte
				out, err = exec.CommandContext(ctx, n.tools.ctr(), "--address", n.l.containerdSock(), "--namespace", "k8s.io",
					"images", "import", t).CombinedOutput()
				if err != nil {
					err = fmt.Errorf("ctr images import %s: %w: %s", t, err, out)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			refs = append(refs, r...)
			errs = append(errs, err)
		})
	}
	wg.Wait()
	return refs, errors.Join(errs...)
}

// ImportImages imports OCI image tarballs into the node's containerd, where pods find them
// without a registry (imagePullPolicy IfNotPresent or Never), and returns their references.
func (n *Node) ImportImages(ctx context.Context, tarballs ...string) ([]string, error) {
	refs, err := n.importImages(ctx, tarballs)
	n.addImages(refs)
	return refs, err
}

// kubelet starts the kubelet and, once it has registered the Node, kube-proxy (which waits
// for its Node's addresses, up to 30 s, before it does anything), and waits for the Node to
// be Ready and kube-proxy to be live.
func (n *Node) kubelet(ctx context.Context) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	kubeletHealth, proxyHealth, proxyMetrics := ports[0], ports[1], ports[2]
	l := n.l
	conf := l.path("config", "kubelet.yaml")
	if err := os.WriteFile(conf, []byte(kubeletConfig(l, n.pki, kubeletHealth)), 0o600); err != nil {
		return err
	}
	k, err := n.run(cKubelet, n.tools.kubelet(),
		"--config", conf, "--kubeconfig", l.kubeconfig(cKubelet),
		"--root-dir", l.kubeletRoot(), "--cert-dir", l.path("pki", "kubelet-generated"),
		"--hostname-override", NodeName, "--node-ip", NodeIP)
	if err != nil {
		return err
	}
	var node *corev1.Node
	err = n.ready(ctx, "kubelet", k, func(ctx context.Context) error {
		node, err = n.cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err == nil && len(node.Status.Addresses) == 0 {
			return fmt.Errorf("node %s has no addresses yet", NodeName)
		}
		return err
	})
	if err != nil {
		return err
	}
	proxy, err := n.run(cKubeProxy, n.tools.kubeProxy(),
		"--kubeconfig", l.kubeconfig(cKubeProxy), "--proxy-mode", "iptables", "--hostname-override", NodeName,
		"--cluster-cidr", PodCIDR,
		"--healthz-bind-address", childproc.Loopback(proxyHealth), "--metrics-bind-address", childproc.Loopback(proxyMetrics),
		// 0: leave the host's conntrack table size and timeouts as they are.
		"--conntrack-max-per-core", "0", "--conntrack-min", "0",
		"--conntrack-tcp-timeout-established", "0", "--conntrack-tcp-timeout-close-wait", "0",
		// Service traffic is masqueraded, so a pod reaching a Service backed by a pod on the
		// same bridge gets its replies through the host's NAT.
		"--masquerade-all",
		// NodePorts on the bridge address only, and not on localhost (which would set
		// route_localnet).
		"--nodeport-addresses", NodeIP+"/32", "--iptables-localhost-nodeports=false")
	if err != nil {
		return err
	}
	// /livez, not /healthz: /healthz fails while the Node is not Ready, which is not
	// kube-proxy's readiness.
	var wg sync.WaitGroup
	var proxyErr error
	wg.Go(func() {
		proxyErr = n.ready(ctx, cKubeProxy, proxy, func(ctx context.Context) error {
			return childproc.GetOK(ctx, "http://"+childproc.Loopback(proxyHealth)+"/livez")
		})
	})
	nodeErr := n.ready(ctx, "Node "+NodeName, k, func(ctx context.Context) error {
		node, err := n.cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("node %s not Ready: %s", NodeName, c.Message)
			}
		}
		return fmt.Errorf("node %s has no Ready condition yet", NodeName)
	})
	wg.Wait()
	return errors.Join(nodeErr, proxyErr)
}

// waitCoreDNS waits for CoreDNS's Deployment to be available and for the kube-dns Service to
// answer a query from the host, through kube-proxy's rules.
func (n *Node) waitCoreDNS(ctx context.Context) error {
	err := childproc.Poll(ctx, 100*time.Millisecond, func(ctx context.Context) error {
		d, err := n.cs.AppsV1().Deployments(metav1.NamespaceSystem).Get(ctx, coreDNSName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !deploymentAvailable(d) {
			return fmt.Errorf("CoreDNS not available: %d of %d replicas ready", d.Status.ReadyReplicas, ptrDeref(d.Spec.Replicas))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("CoreDNS: %w%s", err, n.podEvents(ctx, metav1.NamespaceSystem))
	}
	n.say("CoreDNS ready")
	name := "kubernetes.default.svc." + ClusterDomain
	return childproc.Poll(ctx, 100*time.Millisecond, func(ctx context.Context) error {
		ips, err := Resolver().LookupHost(ctx, name)
		if err != nil {
			return fmt.Errorf("resolve %s at %s: %w", name, DNSServiceIP, err)
		}
		if !slices.Contains(ips, "10.96.0.1") {
			return fmt.Errorf("%s resolved to %v at %s, want 10.96.0.1", name, ips, DNSServiceIP)
		}
		return nil
	})
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	return d.Status.ObservedGeneration >= d.Generation && d.Status.ReadyReplicas >= ptrDeref(d.Spec.Replicas) && d.Status.UpdatedReplicas >= ptrDeref(d.Spec.Replicas)
}

func ptrDeref(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// podEvents summarizes the events of a namespace, for an error about pods that did not come up.
func (n *Node) podEvents(ctx context.Context, ns string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	evs, err := n.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(evs.Items) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("; events:")
	for _, e := range evs.Items[max(0, len(evs.Items)-15):] {
		fmt.Fprintf(&b, "\n  %s %s/%s: %s", e.Reason, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message)
	}
	return b.String()
}

// Resolver asks CoreDNS through its Service address, as a pod's resolver does; it works from
// the host because kube-proxy's rules route the ClusterIP there too.
func Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, net.JoinHostPort(DNSServiceIP, "53"))
	}}
}

// Kubeconfig is the path of the admin kubeconfig (group system:masters), for kubectl and
// helm: KUBECONFIG=$(that) kubectl get pods -A.
func (n *Node) Kubeconfig() string { return n.l.adminKubeconfig() }

// Kubectl is the path of a kubectl of the node's version (hack/tools.sh builds it with the
// node's components), to run with --kubeconfig Kubeconfig().
func (n *Node) Kubectl() string { return n.tools.kubectl() }

// RESTConfig is the admin's client config; callers may change their copy.
func (n *Node) RESTConfig() *rest.Config { return rest.CopyConfig(n.cfg) }

// Client is a clientset for the admin.
func (n *Node) Client() kubernetes.Interface { return n.cs }

// StateDir is the node's directory.
func (n *Node) StateDir() string { return n.l.dir }

// Images are the references of the images imported so far.
func (n *Node) Images() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.images)
}

// Logs returns the last lines of each component's log, for a failed test's report.
func (n *Node) Logs(lines int) string {
	var b strings.Builder
	for _, c := range []string{cEtcd, cAPIServer, cKCM, cScheduler, cContainerd, cKubelet, cKubeProxy} {
		if t := childproc.TailFile(n.l.log(c), lines); t != "" {
			fmt.Fprintf(&b, "--- %s (last %d lines of %s)\n%s\n", c, lines, n.l.log(c), t)
		}
	}
	return b.String()
}

// stopOrder stops the node's components in the order that leaves least behind: first those
// that act on pods and rules, then the runtime, then the control plane.
var stopOrder = [][]string{{cKubelet, cKubeProxy, cScheduler, cKCM}, {cContainerd}, {cAPIServer}, {cEtcd}}

// Stop stops the node and restores the host as it was before Start: processes, mounts,
// cgroups, links, iptables and nftables tables, sysctls and host directories, then removes
// the state directory. It returns what it could not undo; calling it again returns the same.
func (n *Node) Stop() error {
	n.stopped.Do(func() {
		n.say("stopping")
		if n.cancel != nil {
			n.cancel()
			n.bg.Wait()
		}
		for _, group := range stopOrder {
			var wg sync.WaitGroup
			for _, c := range group {
				n.mu.Lock()
				p := n.procs[c]
				n.mu.Unlock()
				if p != nil {
					grace := 3 * time.Second
					if c == cAPIServer {
						// Its graceful shutdown drains connections for seconds; nothing of a
						// throwaway node's API server needs draining once its clients stopped.
						grace = 500 * time.Millisecond
					}
					wg.Go(func() {
						if p.Stop(grace) && c != cAPIServer {
							n.say("%s did not stop in %s of SIGTERM: killed", c, grace)
						}
					})
				}
			}
			wg.Wait()
		}
		n.say("components stopped; restoring the host")
		err := restoreHost(n.l.dir, n.before)
		if err == nil {
			err = os.RemoveAll(n.l.dir)
		} else {
			err = fmt.Errorf("kubenode: the host is not fully restored (state kept in %s; go run ./hack/node down retries): %w", n.l.dir, err)
		}
		if n.lock != nil {
			_ = n.lock.Close()
		}
		if n.host != nil {
			_ = n.host.Close()
		}
		n.stopErr = err
		n.say("stopped")
	})
	return n.stopErr
}

// Down stops the node of dir (DefaultStateDir if empty) if one is running, by signalling the
// process that started it and waiting for it to stop its node, and then undoes whatever a node
// that did not stop (killed, crashed) left on the host, from the record in dir. It is what
// `go run ./hack/node down` does.
func Down(dir string, out io.Writer) error {
	if dir == "" {
		dir = DefaultStateDir
	}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		fmt.Fprintf(out, "[node] no node in %s\n", dir)
		return nil
	}
	if err := checkStateDir(dir); err != nil {
		return err
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		pid := ownerPID(dir)
		if pid <= 0 {
			return fmt.Errorf("kubenode: %s is locked by a process that wrote no pid", dir)
		}
		fmt.Fprintf(out, "[node] stopping the node of process %d\n", pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(90 * time.Second)
		for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			if time.Now().After(deadline) {
				fmt.Fprintf(out, "[node] process %d did not stop its node in 90 s: killing it and cleaning up here\n", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
					return err
				}
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		fmt.Fprintf(out, "[node] stopped\n")
		return nil // its owner stopped it and removed everything
	}
	if _, err := os.Stat(filepath.Join(dir, hostStateFile)); err == nil {
		fmt.Fprintf(out, "[node] undoing what the node of %s left on the host\n", dir)
	}
	if err := cleanup(dir); err != nil {
		return fmt.Errorf("kubenode: %w", err)
	}
	if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
		return err
	}
	fmt.Fprintf(out, "[node] host restored; %s removed\n", dir)
	return nil
}

func ownerPID(dir string) int {
	b, _ := os.ReadFile(filepath.Join(dir, "pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// State is what Status reports about a state directory.
type State struct {
	// Running: a process holds the directory's lock; PID is that process.
	Running bool
	PID     int
	// Leftover: no process holds it, but it records changes to the host that a node made and
	// did not undo (Down undoes them).
	Leftover bool
	// Kubeconfig is the admin kubeconfig, when Running.
	Kubeconfig string
}

// Status reports whether a node runs from dir (DefaultStateDir if empty).
func Status(dir string) (State, error) {
	if dir == "" {
		dir = DefaultStateDir
	}
	f, err := os.Open(dir)
	if os.IsNotExist(err) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) != nil {
		return State{Running: true, PID: ownerPID(dir), Kubeconfig: layout{dir}.adminKubeconfig()}, nil
	}
	_, err = os.Stat(filepath.Join(dir, hostStateFile))
	return State{Leftover: err == nil}, nil
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }
