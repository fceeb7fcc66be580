package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/config"
)

// Issue 11, the Kubernetes side: each test below is written as the attack — what an
// attacker does, then what the victim can still do — against a real API server (envtest).

// testOperatorNamespace is where the suite's operator says it runs (--operator-namespace).
const testOperatorNamespace = "latch-system"

// operatorPodLabels are the labels the chart puts on the operator's pods.
var operatorPodLabels = map[string]string{labelName: "latch-operator", labelInstance: "latch"}

// ensureNamespace creates a namespace with a fixed name unless it exists.
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	err := k8s.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !kerrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// createPod creates a pod the way anyone allowed to create pods in ns can: with whatever
// labels they like. envtest runs no scheduler, so it never starts; a NetworkPolicy selects
// it by its labels and namespace all the same.
func createPod(t *testing.T, ns, name string, podLabels map[string]string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: podLabels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if err := k8s.Create(t.Context(), p); err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })
	return p
}

// policyAdmits evaluates a NetworkPolicy as a CNI plugin does: may pod open a TCP connection
// to port of a pod the policy selects? The pod's namespace is read from the API server, with
// the labels it really has (kubernetes.io/metadata.name is set by the API server).
func policyAdmits(t *testing.T, np *networkingv1.NetworkPolicy, pod *corev1.Pod, port int32) bool {
	t.Helper()
	podNS := &corev1.Namespace{}
	if err := k8s.Get(t.Context(), keyNS("", pod.Namespace), podNS); err != nil {
		t.Fatal(err)
	}
	for _, rule := range np.Spec.Ingress {
		if len(rule.Ports) > 0 && !portListed(rule.Ports, port) {
			continue
		}
		if len(rule.From) == 0 {
			return true // every source
		}
		for _, peer := range rule.From {
			if peerMatches(t, np.Namespace, peer, pod, podNS) {
				return true
			}
		}
	}
	return false
}

func portListed(ports []networkingv1.NetworkPolicyPort, port int32) bool {
	for _, p := range ports {
		if p.Port == nil || p.Port.IntValue() == int(port) {
			return true
		}
	}
	return false
}

// peerMatches is the API's rule for one peer: a podSelector alone selects pods of the
// policy's own namespace; a namespaceSelector selects namespaces, narrowed to the pods its
// podSelector selects when both are in the same peer.
func peerMatches(t *testing.T, policyNS string, peer networkingv1.NetworkPolicyPeer, pod *corev1.Pod, podNS *corev1.Namespace) bool {
	t.Helper()
	if peer.IPBlock != nil {
		t.Errorf("peer %+v admits by address: it cannot be judged by labels", peer)
		return false
	}
	if peer.NamespaceSelector == nil {
		return pod.Namespace == policyNS && selects(t, peer.PodSelector, pod.Labels)
	}
	if !selects(t, peer.NamespaceSelector, podNS.Labels) {
		return false
	}
	return peer.PodSelector == nil || selects(t, peer.PodSelector, pod.Labels)
}

func selects(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %+v: %v", sel, err)
	}
	return s.Matches(labels.Set(l))
}

// TestNetworkPolicyOnByDefault: a platform team declares a realm and forgets
// spec.networkPolicy. Without a policy every pod of the cluster may reach the realm's Redis,
// where every session and token hash lives, and read or forge them. The realm must get both
// policies anyway; the servers stay reachable on their ports and the servers reach Redis.
func TestNetworkPolicyOnByDefault(t *testing.T) {
	ns := newNamespace(t)
	r := createRealm(t, newRealm(ns, "forgot"))
	if r.Spec.NetworkPolicy != nil && (r.Spec.NetworkPolicy.Enabled == nil || !*r.Spec.NetworkPolicy.Enabled) {
		t.Errorf("the API server stored spec.networkPolicy = %+v, want enabled", r.Spec.NetworkPolicy)
	}

	// The attacker: any pod, in a namespace of their own.
	attackerNS := newNamespace(t)
	attacker := createPod(t, attackerNS, "curious", map[string]string{"app": "curious"})

	serverNP, redisNP := &networkingv1.NetworkPolicy{}, &networkingv1.NetworkPolicy{}
	get(t, ns, "forgot", serverNP)
	get(t, ns, "forgot-redis", redisNP)
	if policyAdmits(t, redisNP, attacker, redisPort) {
		t.Errorf("a pod of namespace %s reaches the realm's Redis: %+v", attackerNS, redisNP.Spec.Ingress)
	}
	if policyAdmits(t, serverNP, attacker, redisPort) || policyAdmits(t, serverNP, attacker, 22) {
		t.Errorf("the servers' policy admits ports other than theirs: %+v", serverNP.Spec.Ingress)
	}

	// The victim still works: clients reach the public port, the servers reach Redis.
	server := createPod(t, ns, "server", selectorLabels(r))
	if !policyAdmits(t, serverNP, attacker, authv1.ServerPort) || !policyAdmits(t, serverNP, attacker, authv1.AdminPort) {
		t.Errorf("without spec.networkPolicy.from, clients must still reach the servers: %+v", serverNP.Spec.Ingress)
	}
	if !policyAdmits(t, redisNP, server, redisPort) {
		t.Errorf("the realm's servers cannot reach their Redis: %+v", redisNP.Spec.Ingress)
	}

	// Opting out removes both.
	updateRealm(t, r, func(cur *authv1.AuthRealm) {
		cur.Spec.NetworkPolicy = &authv1.NetworkPolicySpec{Enabled: ptr.To(false)}
	})
	eventually(t, waitFor, func() error {
		for _, name := range []string{"forgot", "forgot-redis"} {
			if err := k8s.Get(t.Context(), keyNS(ns, name), &networkingv1.NetworkPolicy{}); !kerrors.IsNotFound(err) {
				return fmt.Errorf("NetworkPolicy %s still there after enabled: false (%v)", name, err)
			}
		}
		return nil
	})
}

// TestRedisPolicyAdmitsOnlyTheOperator: the managed Redis admits the operator, which writes
// client registrations. An attacker who may create pods anywhere — their own team's
// namespace, or the realm's namespace itself — labels a pod as the operator to reach Redis.
// Neither may; the operator, in its own namespace, still does, and so do the servers.
func TestRedisPolicyAdmitsOnlyTheOperator(t *testing.T) {
	ns := newNamespace(t)
	ensureNamespace(t, testOperatorNamespace)
	r := newRealm(ns, "guarded")
	r.Spec.NetworkPolicy = &authv1.NetworkPolicySpec{}
	createRealm(t, r)
	redisNP := &networkingv1.NetworkPolicy{}
	get(t, ns, "guarded-redis", redisNP)

	attackerNS := newNamespace(t)
	elsewhere := createPod(t, attackerNS, "fake-operator", operatorPodLabels)
	inRealmNS := createPod(t, ns, "fake-operator", operatorPodLabels)
	for _, p := range []*corev1.Pod{elsewhere, inRealmNS} {
		if policyAdmits(t, redisNP, p, redisPort) {
			t.Errorf("a pod in %s labelled as the operator reaches the realm's Redis: %+v", p.Namespace, redisNP.Spec.Ingress)
		}
	}
	// Each peer that names the operator's label names its namespace in the same peer.
	for _, rule := range redisNP.Spec.Ingress {
		for _, peer := range rule.From {
			if peer.PodSelector != nil && peer.PodSelector.MatchLabels[labelName] == "latch-operator" &&
				(peer.NamespaceSelector == nil || peer.NamespaceSelector.MatchLabels[corev1.LabelMetadataName] != testOperatorNamespace) {
				t.Errorf("peer %+v admits the operator's label without the operator's namespace", peer)
			}
		}
	}

	operator := createPod(t, testOperatorNamespace, "latch-operator-"+strings.ToLower(ns), operatorPodLabels)
	server := createPod(t, ns, "server", selectorLabels(r))
	if !policyAdmits(t, redisNP, operator, redisPort) {
		t.Errorf("the operator in %s cannot reach the realm's Redis: %+v", testOperatorNamespace, redisNP.Spec.Ingress)
	}
	if !policyAdmits(t, redisNP, server, redisPort) {
		t.Errorf("the realm's servers cannot reach their Redis: %+v", redisNP.Spec.Ingress)
	}
}

// secretEnvNames are the container's environment variables whose value comes from a Secret.
func secretEnvNames(c corev1.Container) []string {
	var out []string
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			out = append(out, e.Name)
		}
	}
	return out
}

// processArgs are every argument vector the kubelet or a shell would start in the container:
// its command and args, and the exec probes and hooks.
func processArgs(c corev1.Container) map[string][]string {
	out := map[string][]string{"command+args": append(append([]string{}, c.Command...), c.Args...)}
	for name, p := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
		if p != nil && p.Exec != nil {
			out[name] = p.Exec.Command
		}
	}
	if l := c.Lifecycle; l != nil {
		for name, h := range map[string]*corev1.LifecycleHandler{"postStart": l.PostStart, "preStop": l.PreStop} {
			if h != nil && h.Exec != nil {
				out[name] = h.Exec.Command
			}
		}
	}
	return out
}

// checkNoSecretInArgs fails when any process the pod starts would carry a secret in its
// arguments: the value itself, a $(VAR) the kubelet expands, or a $VAR / ${VAR} a shell
// expands into the arguments of the program it runs (redis-cli -a "$PASSWORD").
func checkNoSecretInArgs(t *testing.T, spec corev1.PodSpec, secretValues ...string) {
	t.Helper()
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		names := secretEnvNames(c)
		for where, argv := range processArgs(c) {
			joined := strings.Join(argv, " ")
			for _, v := range secretValues {
				if v != "" && strings.Contains(joined, v) {
					t.Errorf("container %s: %s holds the secret value: %q", c.Name, where, joined)
				}
			}
			for _, n := range names {
				ref := regexp.MustCompile(`\$\(` + regexp.QuoteMeta(n) + `\)|\$\{` + regexp.QuoteMeta(n) + `\}|\$` + regexp.QuoteMeta(n) + `\b`)
				if ref.MatchString(joined) {
					t.Errorf("container %s: %s expands %s (from a Secret) into a process's arguments: %q", c.Name, where, n, joined)
				}
			}
		}
	}
}

// TestRedisPasswordNeverInProcessArgs: an attacker with a foothold on the node (or in any
// container sharing the host PID namespace, or reading a process listing through a
// monitoring agent) reads every process's command line. The managed Redis's password must
// not be there; Redis still requires it, and the probes still authenticate.
func TestRedisPasswordNeverInProcessArgs(t *testing.T) {
	ns := newNamespace(t)
	createRealm(t, newRealm(ns, "quiet-redis"))
	keys := &corev1.Secret{}
	get(t, ns, "quiet-redis-keys", keys)
	password := string(keys.Data[keyRedisPassword])
	if len(password) < 32 {
		t.Fatalf("generated Redis password %q too short", password)
	}
	sts := &appsv1.StatefulSet{}
	get(t, ns, "quiet-redis-redis", sts)
	checkNoSecretInArgs(t, sts.Spec.Template.Spec, password)

	// What the kubelet would run, run here with the real redis-server and redis-cli: the
	// process's command line, as /proc shows it to anyone, lacks the password, and Redis
	// refuses a client without it.
	runRenderedRedis(t, sts.Spec.Template.Spec, map[string]*corev1.Secret{keys.Name: keys}, password)
}

// runRenderedRedis runs the pod's redis container as a kubelet would — Secret volumes
// written to files, the data volume a directory, $(VAR) expanded from the container's
// environment — on a free loopback port, then checks its command line, that it requires the
// password, and that each exec probe passes.
func runRenderedRedis(t *testing.T, spec corev1.PodSpec, secrets map[string]*corev1.Secret, password string) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatalf("redis-cli: %v", err)
	}
	c := spec.Containers[0]
	root := t.TempDir()
	volumeDirs := map[string]string{}
	for _, v := range spec.Volumes {
		dir := filepath.Join(root, v.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		volumeDirs[v.Name] = dir
		if v.Secret == nil {
			continue
		}
		sec := secrets[v.Secret.SecretName]
		if sec == nil {
			t.Fatalf("volume %s mounts Secret %s, which the test does not know", v.Name, v.Secret.SecretName)
		}
		for _, item := range v.Secret.Items {
			data, ok := sec.Data[item.Key]
			if !ok {
				t.Fatalf("volume %s: Secret %s has no key %s: the pod would not start", v.Name, sec.Name, item.Key)
			}
			if err := os.WriteFile(filepath.Join(dir, item.Path), data, 0o400); err != nil {
				t.Fatal(err)
			}
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root}
	envMap := map[string]string{}
	for _, e := range c.Env {
		val := e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			val = string(secrets[ref.Name].Data[ref.Key])
		}
		envMap[e.Name] = val
		env = append(env, e.Name+"="+val)
	}
	port := freeTCPPort(t)
	// Mount paths become the directories above, the Redis port the free one; $(VAR) is the
	// kubelet's expansion.
	rewrite := func(s string) string {
		for _, m := range c.VolumeMounts {
			s = strings.ReplaceAll(s, m.MountPath, volumeDirs[m.Name])
		}
		s = strings.ReplaceAll(s, strconv.Itoa(redisPort), strconv.Itoa(port))
		return regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(s, func(m string) string {
			return envMap[m[2:len(m)-1]]
		})
	}
	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(argv) == 0 || argv[0] != "redis-server" {
		t.Fatalf("the redis container runs %v, want redis-server first", argv)
	}
	args := []string{}
	for _, a := range argv[1:] {
		args = append(args, rewrite(a))
	}
	// What the kubelet hands the container runtime, after its $(VAR) expansion: it is in the
	// container's config on the node, and in /proc until redis-server rewrites its title.
	if strings.Contains(strings.Join(args, " "), password) {
		t.Errorf("redis-server is started with the password in its arguments: %q", args)
	}
	// The test's redis-server listens on loopback only, whatever the pod's config says.
	args = append(args, "--bind", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = env, root
	out := &lockedOutput{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	cli := func(extraEnv []string, a ...string) (string, error) {
		cc := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(port)}, a...)...)
		cc.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + root}, extraEnv...)
		b, err := cc.CombinedOutput()
		return strings.TrimSpace(string(b)), err
	}
	eventually(t, 10*time.Second, func() error {
		got, err := cli([]string{"REDISCLI_AUTH=" + password}, "ping")
		if err != nil || got != "PONG" {
			return fmt.Errorf("ping with the password: %q %v; redis-server output:\n%s", got, err, out)
		}
		return nil
	})

	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cmdline), password) {
		t.Errorf("the password is in redis-server's command line, readable by anyone on the node: %q", strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	if got, _ := cli(nil, "get", "session:x"); !strings.Contains(got, "NOAUTH") {
		t.Errorf("a client without the password got %q, want NOAUTH", got)
	}
	if got, _ := cli([]string{"REDISCLI_AUTH=wrong-password"}, "ping"); strings.Contains(got, "PONG") {
		t.Errorf("a wrong password was accepted: %q", got)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.Exec == nil {
			t.Errorf("no exec %s probe", name)
			continue
		}
		pa := []string{}
		for _, a := range p.Exec.Command {
			pa = append(pa, rewrite(a))
		}
		pc := exec.Command(pa[0], pa[1:]...)
		pc.Env = env
		if b, err := pc.CombinedOutput(); err != nil {
			t.Errorf("%s probe %q fails against a healthy Redis: %v\n%s", name, pa, err, b)
		}
	}
}

// lockedOutput collects a process's output while the test reads it.
type lockedOutput struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *lockedOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *lockedOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// renderedConfig reads the server config the operator rendered for a realm.
func renderedServerConfig(t *testing.T, ns, name string) *config.Config {
	t.Helper()
	cm := &corev1.ConfigMap{}
	get(t, ns, name+"-config", cm)
	cfg, err := config.Parse([]byte(cm.Data[authv1.ServerConfigKey]))
	if err != nil {
		t.Fatalf("rendered config: %v", err)
	}
	return cfg
}

// TestSessionCookieSecureByDefault: a realm served behind TLS whose author did not know to
// set cookie.secure hands out a session cookie without Secure. An attacker on the user's
// network makes the browser load any http:// URL of the realm's domain and reads the cookie
// off the wire. The cookie must be Secure unless the author opts out (plain-HTTP development),
// and SameSite None still requires Secure.
func TestSessionCookieSecureByDefault(t *testing.T) {
	ns := newNamespace(t)
	r := createRealm(t, newRealm(ns, "cookies"))
	if got := r.Spec.Sessions.Cookie.Secure; got == nil || !*got {
		t.Errorf("the API server stored spec.sessions.cookie.secure = %v, want true by default", got)
	}
	eventually(t, waitFor, func() error {
		if cfg := renderedServerConfig(t, ns, "cookies"); !cfg.Listen.SecureCookies {
			return errors.New("a realm that says nothing about cookies renders listen.secureCookies false")
		}
		return nil
	})

	// The development opt-out still works, and is explicit.
	dev := newRealm(ns, "plain-http")
	dev.Spec.Sessions.Cookie.Secure = ptr.To(false)
	createRealm(t, dev)
	eventually(t, waitFor, func() error {
		if cfg := renderedServerConfig(t, ns, "plain-http"); cfg.Listen.SecureCookies {
			return errors.New("secure: false still renders listen.secureCookies true")
		}
		return nil
	})

	none := newRealm(ns, "cross-site")
	none.Spec.Sessions.Cookie.Secure = ptr.To(false)
	none.Spec.Sessions.Cookie.SameSite = "None"
	if err := k8s.Create(t.Context(), none); err == nil || !strings.Contains(err.Error(), "cookie.sameSite None requires cookie.secure true") {
		t.Errorf("sameSite None with secure false: got %v, want refusal", err)
	}
}

// TestIngressRequiresTrustedProxies: behind an ingress controller every request reaches the
// servers from the controller's pods, so without trustedProxies every client has the
// proxy's address. An attacker then fails ~100 logins (bruteForce.maxFailuresPerIP) and
// locks every login of the realm, for everyone, for the lockout. Such a realm is refused,
// with a message that says what to put there; with the controller's CIDRs it is accepted and
// the servers believe X-Forwarded-For from them only.
func TestIngressRequiresTrustedProxies(t *testing.T) {
	ns := newNamespace(t)
	r := newRealm(ns, "exposed")
	r.Spec.Ingress = &authv1.IngressSpec{Host: "auth.example.com", TLSSecretName: "auth-tls"}
	err := k8s.Create(t.Context(), r)
	if err == nil {
		t.Fatal("a realm with spec.ingress and no spec.bruteForce.trustedProxies was accepted: one client can lock every login behind the proxy")
	}
	for _, want := range []string{"spec.bruteForce.trustedProxies", "ingress controller"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not mention %q", err, want)
		}
	}

	r = newRealm(ns, "exposed")
	r.Spec.Ingress = &authv1.IngressSpec{Host: "auth.example.com", TLSSecretName: "auth-tls"}
	r.Spec.BruteForce.TrustedProxies = []string{"10.244.0.0/16"}
	createRealm(t, r)
	eventually(t, waitFor, func() error {
		cfg := renderedServerConfig(t, ns, "exposed")
		if got, _ := json.Marshal(cfg.BruteForce.TrustedProxies); string(got) != `["10.244.0.0/16"]` {
			return fmt.Errorf("rendered trustedProxies = %s", got)
		}
		return nil
	})
	get(t, ns, "exposed", &networkingv1.Ingress{})
}

// TestRedisNetworkPolicyRendered is the rendered form of TestRedisPolicyAdmitsOnlyTheOperator:
// no peer admits the operator's label without its namespace, and an operator whose namespace
// is unknown admits no operator pod at all rather than every pod carrying its label.
func TestRedisNetworkPolicyRendered(t *testing.T) {
	r := loadSample(t, "auth_v1alpha1_authrealm_minimal.yaml")
	for _, operatorNS := range []string{"latch-system", ""} {
		np := buildRedisNetworkPolicy(r, operatorNS)
		if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].Ports) != 1 || np.Spec.Ingress[0].Ports[0].Port.IntValue() != redisPort {
			t.Fatalf("operator namespace %q: rules = %+v, want one, on the Redis port", operatorNS, np.Spec.Ingress)
		}
		var operatorPeers int
		for _, peer := range np.Spec.Ingress[0].From {
			switch {
			case peer.PodSelector != nil && peer.NamespaceSelector == nil:
				if got := peer.PodSelector.MatchLabels; len(got) != 2 || got[labelName] != "latch-server" || got[labelInstance] != r.Name {
					t.Errorf("peer of the realm's own namespace selects %v, want the realm's servers only", got)
				}
			case peer.NamespaceSelector != nil && peer.PodSelector != nil:
				operatorPeers++
				if got := peer.NamespaceSelector.MatchLabels; len(got) != 1 || got[corev1.LabelMetadataName] != operatorNS || len(peer.NamespaceSelector.MatchExpressions) != 0 {
					t.Errorf("operator peer selects namespaces %+v, want only %s by its name", peer.NamespaceSelector, operatorNS)
				}
				if got := peer.PodSelector.MatchLabels; got[labelName] != "latch-operator" {
					t.Errorf("operator peer selects pods %v", got)
				}
			default:
				t.Errorf("peer %+v admits whole namespaces or addresses", peer)
			}
		}
		if want := map[bool]int{true: 1, false: 0}[operatorNS != ""]; operatorPeers != want {
			t.Errorf("operator namespace %q: %d operator peers, want %d", operatorNS, operatorPeers, want)
		}
	}
	// A realm that says nothing about networkPolicy gets the servers' policy too.
	r.Spec.NetworkPolicy = nil
	if !r.Spec.NetworkPolicy.IsEnabled() {
		t.Error("an absent spec.networkPolicy is off")
	}
	if np := buildNetworkPolicy(r); len(np.Spec.Ingress) != 2 || len(np.Spec.Ingress[0].From) != 0 {
		t.Errorf("servers' policy without spec.networkPolicy = %+v, want both ports from every peer", np.Spec.Ingress)
	}
}

// TestRedisAuthConfRendered runs the rendered Redis pod with passwords a config file could
// misread — quotes, backslashes, spaces, a '#', control bytes — and the generated kind: in
// each case Redis requires exactly that password, and no process's arguments carry it.
func TestRedisAuthConfRendered(t *testing.T) {
	r := loadSample(t, "auth_v1alpha1_authrealm_minimal.yaml")
	sts := buildRedisStatefulSet(r)
	checkNoSecretInArgs(t, sts.Spec.Template.Spec)
	for _, pw := range []string{
		"AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCd",
		`with "quotes" and \backslashes\ and spaces # not a comment`,
		"control\x01\x7fbytes\tand\nnewline",
	} {
		t.Run(fmt.Sprintf("%.12q", pw), func(t *testing.T) {
			keys := buildKeysSecret(r, "token-key", pw)
			checkNoSecretInArgs(t, sts.Spec.Template.Spec, pw)
			runRenderedRedis(t, sts.Spec.Template.Spec, map[string]*corev1.Secret{keys.Name: keys}, pw)
		})
	}
}
