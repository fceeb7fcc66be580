package kubenode

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The node's network and names. They are fixed, not chosen per run: one node per host (the
// lock in the state directory, and the bridge and cgroup root checks), and fixed addresses
// make the kubeconfig, the clusterDNS and the bridge predictable across restarts.
const (
	// NodeName is the Node object's name and the kubelet's hostname.
	NodeName = "latch-node"
	// bridgeName is the pods' bridge; the node's IP is its gateway address.
	bridgeName = "latch0"
	// PodCIDR is the pods' subnet on the bridge.
	PodCIDR = "10.244.0.0/24"
	// NodeIP is the bridge's address: the API server, the kubelet and NodePorts listen there
	// (pods reach it; nothing outside the host does).
	NodeIP = "10.244.0.1"
	// ServiceCIDR is the ClusterIP range; the kubernetes Service takes its first address.
	ServiceCIDR = "10.96.0.0/16"
	// DNSServiceIP is CoreDNS's ClusterIP, the kubelet's clusterDNS.
	DNSServiceIP = "10.96.0.10"
	// ClusterDomain is the DNS suffix of Services.
	ClusterDomain = "cluster.local"
	// APIServerPort is the API server's port on NodeIP.
	APIServerPort = 6443
	// kubeletPort is the kubelet's API on NodeIP (logs, exec, port-forward).
	kubeletPort = 10250
	// AdminUser is the admin kubeconfig's user (its client certificate's CN, in the group
	// system:masters): who the API server says acts through Kubeconfig.
	AdminUser = "latch-node-admin"
)

// layout is where everything of a node lives, all under its state directory.
type layout struct{ dir string }

func (l layout) path(p ...string) string { return filepath.Join(append([]string{l.dir}, p...)...) }
func (l layout) pki() string             { return l.path("pki") }
func (l layout) logs() string            { return l.path("logs") }
func (l layout) log(c string) string     { return l.path("logs", c+".log") }
func (l layout) etcd() string            { return l.path("etcd") }
func (l layout) containerdDir() string   { return l.path("containerd") }
func (l layout) containerdSock() string  { return l.path("containerd", "containerd.sock") }
func (l layout) kubeletRoot() string     { return l.path("kubelet") }
func (l layout) cniConf() string         { return l.path("cni", "net.d") }
func (l layout) volumes() string         { return l.path("volumes") }
func (l layout) kubeconfig(c string) string {
	return l.path("kubeconfig", c+".kubeconfig")
}

// Kubeconfig is the admin kubeconfig's path (user AdminUser, group system:masters).
func (l layout) adminKubeconfig() string { return l.path("kubeconfig", "admin.kubeconfig") }

func apiServerURL() string {
	return "https://" + net.JoinHostPort(NodeIP, fmt.Sprint(APIServerPort))
}

// writeKubeconfig writes a kubeconfig for one component's client certificate. inline puts
// the certificates and key in the file (the admin's, which a user may copy elsewhere);
// otherwise it names the files in the PKI directory.
func writeKubeconfig(path string, p *pki, cert string, inline bool) error {
	cfg := clientcmdapi.NewConfig()
	cluster := &clientcmdapi.Cluster{Server: apiServerURL()}
	user := &clientcmdapi.AuthInfo{}
	if inline {
		crt, err := os.ReadFile(p.cert(cert))
		if err != nil {
			return err
		}
		key, err := os.ReadFile(p.key(cert))
		if err != nil {
			return err
		}
		cluster.CertificateAuthorityData = p.caPEM()
		user.ClientCertificateData, user.ClientKeyData = crt, key
	} else {
		cluster.CertificateAuthority = p.ca()
		user.ClientCertificate, user.ClientKey = p.cert(cert), p.key(cert)
	}
	cfg.Clusters[NodeName] = cluster
	cfg.AuthInfos[cert] = user
	cfg.Contexts[NodeName] = &clientcmdapi.Context{Cluster: NodeName, AuthInfo: cert}
	cfg.CurrentContext = NodeName
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// containerdConfig is containerd's config (version 3, containerd 2.x). Everything it keeps
// is under the state directory: its root and state, its socket, runc's state, the pods'
// network namespaces (netns_mounts_under_state_dir, instead of /run/netns), the CNI config.
// restrict_oom_score_adj: this host does not give root CAP_SYS_RESOURCE, so runc cannot
// lower a process's OOM score below containerd's, and without the setting every sandbox
// fails with "can't get final child's PID from pipe: EOF". Plugins that would write outside
// the state directory (opt's /opt/containerd, NRI's socket, CDI) or that the node does not
// use are disabled.
func containerdConfig(l layout, t Tools, sandboxImage string) string {
	c := l.containerdDir()
	return fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = %[5]q

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_cdi = false
  enable_unprivileged_ports = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = %[6]q
        Root = %[7]q
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%[8]q]
    conf_dir = %[9]q
    max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`, filepath.Join(c, "root"), filepath.Join(c, "state"), l.containerdSock(), filepath.Join(c, "ttrpc.sock"),
		sandboxImage, t.Runc, filepath.Join(c, "runc"), t.CNIBinDir, l.cniConf())
}

// cniConfig is the pod network: a bridge whose gateway is the node's IP, addresses from
// host-local (its leases in the state directory rather than /var/lib/cni), masquerading for
// traffic leaving the subnet, hairpin so a pod reaches itself through its Service, and
// portmap for hostPorts.
func cniConfig(l layout) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "latch-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": %q
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, bridgeName, PodCIDR, NodeIP, l.path("cni", "ipam"))
}

// kubeletConfig is the KubeletConfiguration. cgroupfs under the node's own cgroup root (this
// host has no systemd and cgroup v1, which 1.36 refuses unless failCgroupV1 is false); no
// swap check; image GC off (the node's images are imported, not pulled, so a collected one
// would not come back); eviction thresholds low so a full dev disk does not evict the pods;
// logs and resolv.conf in the state directory.
func kubeletConfig(l layout, p *pki, healthzPort int) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: %[2]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
tlsCertFile: %[4]q
tlsPrivateKeyFile: %[5]q
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %[6]q
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://%[7]s
imageServiceEndpoint: unix://%[7]s
cgroupDriver: cgroupfs
cgroupRoot: /%[8]s
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
clusterDNS: [%[9]s]
clusterDomain: %[10]s
resolvConf: %[11]q
podLogsDir: %[12]q
registerNode: true
rotateCertificates: false
serverTLSBootstrap: false
protectKernelDefaults: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
syncFrequency: 10s
fileCheckFrequency: 10s
nodeStatusUpdateFrequency: 5s
maxPods: 110
`, NodeIP, kubeletPort, healthzPort, p.cert("kubelet-server"), p.key("kubelet-server"), p.ca(),
		l.containerdSock(), cgroupRootName, DNSServiceIP, ClusterDomain, l.path("resolv.conf"), l.path("pod-logs"))
}

// resolvConf is what pods with dnsPolicy Default (CoreDNS itself) get: the host's name
// servers that a pod can reach, i.e. none on loopback. With none, CoreDNS answers for the
// cluster domain only.
func resolvConf() string {
	var b strings.Builder
	for _, line := range readLines("/etc/resolv.conf") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "nameserver" {
			if ip := net.ParseIP(f[1]); ip != nil && !ip.IsLoopback() {
				b.WriteString(line + "\n")
			}
		}
	}
	return b.String()
}
