package onnode

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/dialect/reactauth/reactauthtest"
	"github.com/latchauth/latch/internal/childproc"
	"github.com/latchauth/latch/internal/devcluster"
	"github.com/latchauth/latch/internal/kubenode"
)

// TestLatchOnNode installs Latch on a real node (devcluster: the chart with the working
// tree's image, the full sample realm with managed Redis and its clients), signs users in,
// and then, one fault after another, checks that no session is lost: a realm edit rolling the
// pods, a deleted server pod, a drain held back by the PodDisruptionBudget, a restarted Redis
// coming back from its volume. Every step is bounded; the subtests build on each other, so
// the first failure of a step the next ones need stops the test.
func TestMain(m *testing.M) {
	// devcluster's controller-runtime client logs through this; nothing here needs its lines.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

func TestLatchOnNode(t *testing.T) {
	start := time.Now()
	step := func(what string, args ...any) {
		t.Logf("%6.1fs  %s", time.Since(start).Seconds(), fmt.Sprintf(what, args...))
	}
	c := devcluster.StartT(t, devcluster.Options{})
	step("Latch installed and the samples Ready")
	ctx, cancel := context.WithTimeout(t.Context(), 12*time.Minute)
	defer cancel()

	svcURL, err := c.ServiceURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rc := newRealmClient(svcURL)
	realm, err := c.GetRealm(ctx)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("installed as the chart and the operator render it", func(t *testing.T) {
		checkOperator(ctx, t, c)
		pods, err := c.ServerPods(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(pods) != 2 {
			t.Fatalf("%d server pods, want the sample's 2", len(pods))
		}
		for i := range pods {
			checkRestricted(t, &pods[i])
		}
		redis := redisPod(ctx, t, c)
		checkRestricted(t, redis)
		// The running processes, as the kernel sees them: the runtime applied the contexts.
		servers, operators, redises := processes("/latch\x00server\x00"), processes("/latch\x00manager\x00"), processes("redis-server ")
		if len(servers) != 2 || len(operators) != 1 || len(redises) != 1 {
			t.Errorf("processes: %d latch servers, %d operators, %d redis-server; want 2, 1, 1", len(servers), len(operators), len(redises))
		}
		for _, p := range append(servers, operators...) {
			kubenode.CheckRestrictedProcess(t, p, 65532)
		}
		for _, p := range redises {
			kubenode.CheckRestrictedProcess(t, p, 999)
		}
		// From the host, the Service's ClusterIP (kube-proxy) and each pod's IP (the bridge)
		// answer; the samples' clients were registered by the operator through Redis.
		urls, err := c.PodURLs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range urls {
			code, _, b, err := newRealmClient(u.URL).do(ctx, http.MethodGet, accountPrefix+"/session", nil, nil)
			if err != nil || code != http.StatusUnauthorized {
				t.Errorf("pod %s at %s: GET /session without a cookie = %d %s %v, want 401", u.Name, u.URL, code, b, err)
			}
		}
		t.Logf("the realm answers at %s (Service) and %v (pods)", svcURL, urls)
	})

	t.Run("network policies are present, not enforced", func(t *testing.T) {
		checkNetworkPolicies(ctx, t, c)
	})

	// Sign users in: three users registered through the account dialect (each registration is
	// a session), logged in again through account (a second browser) and deviseToken (a
	// device), and a reactAuth socket resumed on one account session.
	var accounts []*accountSession
	var devices []*deviseSession
	const password = "correct horse battery"
	for i := range 3 {
		login := fmt.Sprintf("user%d@example.com", i)
		s, err := accountLogin(ctx, rc, "/register", login, password, map[string]string{"firstName": "User", "lastName": fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		s2, err := accountLogin(ctx, rc, "/login", login, password, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := deviseSignIn(ctx, rc, login, password)
		if err != nil {
			t.Fatal(err)
		}
		accounts = append(accounts, s, s2)
		devices = append(devices, d)
	}
	var sessions, polled []session
	for _, s := range accounts {
		sessions, polled = append(sessions, s), append(polled, s)
	}
	for _, d := range devices {
		sessions = append(sessions, d)
	}
	t.Run("kubectl latch runs latch admin in a server pod through pods/exec", func(t *testing.T) {
		checkKubectlLatch(ctx, t, c, realm, "user0@example.com")
	})

	socketURL := "ws" + strings.TrimPrefix(svcURL, "http") + reactAuthPrefix + "/socket"
	held, _, err := reactauthtest.DialURL(t, socketURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !held.Resume(accounts[0].token) {
		t.Fatal("socket/resume of a fresh account session failed")
	}
	checkAll := func(t *testing.T, when string) {
		t.Helper()
		// Once the realm has settled (WaitReady: no server pod terminating, Redis and every
		// server Ready), the first request answers, valid: no retry. (A connection refused by
		// a stopped server, or a 500 from a pooled Redis connection that died with the old
		// Redis pod, would fail here.)
		for _, s := range sessions {
			if err := s.check(ctx, rc); err != nil {
				t.Errorf("%s: %s: %v", when, s, err)
			}
		}
		// A browser tab whose socket went reconnects and resumes its session.
		var sock *reactauthtest.Socket
		err := childproc.Poll(ctx, 250*time.Millisecond, func(context.Context) (err error) {
			sock, _, err = reactauthtest.DialURL(t, socketURL, nil)
			return err
		})
		if err != nil {
			t.Errorf("%s: reactAuth socket: %v", when, err)
			return
		}
		if !sock.Resume(accounts[1].token) {
			t.Errorf("%s: socket/resume of %s refused", when, accounts[1])
		}
		sock.Close()
	}
	step("%d sessions signed in (%d account, %d deviseToken) and a reactAuth socket bound", len(sessions), len(accounts), len(devices))
	checkAll(t, "before any fault")

	t.Run("a realm edit rolls the pods with no session lost", func(t *testing.T) {
		p := startPoller(ctx, rc, polled)
		defer p.stop() // on a failure too
		ro, err := c.EditRealm(ctx, func(r *authv1.AuthRealm) {
			r.Spec.AllowedOrigins = append(r.Spec.AllowedOrigins, "https://edited.example.com")
		})
		rep := p.stop()
		if err != nil {
			t.Fatal(err)
		}
		step("realm edit: config hash %s → %s, pods %v → %v in %.1f s; %s",
			short(ro.OldHash), short(ro.NewHash), ro.OldPods, ro.NewPods, ro.Took.Seconds(), rep)
		if ro.OldHash == ro.NewHash {
			t.Errorf("the edit did not change the config hash (%s)", ro.OldHash)
		}
		judge(t, "the rollout", rep, true)
		checkAll(t, "after the realm edit")
	})
	// The socket held across the roll was on a pod that is gone: its server closed it (the
	// browser tab reconnects and resumes, as checkAll does).
	code := held.WaitDisconnect(30 * time.Second)
	step("the reactAuth socket held across the roll was closed by its server with code %d", code)

	t.Run("a deleted server pod is replaced with no session lost", func(t *testing.T) {
		pods, err := c.ServerPods(ctx)
		if err != nil || len(pods) == 0 {
			t.Fatalf("server pods: %v, %v", pods, err)
		}
		victim := pods[0].Name
		p := startPoller(ctx, rc, polled)
		defer p.stop() // on a failure too
		began := time.Now()
		if err := c.Kube.CoreV1().Pods(c.Namespace).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		err = childproc.Poll(ctx, 300*time.Millisecond, func(ctx context.Context) error {
			if err := c.WaitReady(ctx); err != nil {
				return err
			}
			pods, err := c.ServerPods(ctx)
			if err != nil {
				return err
			}
			if slices.ContainsFunc(pods, func(p corev1.Pod) bool { return p.Name == victim }) {
				return fmt.Errorf("%s is still there", victim)
			}
			return nil
		})
		rep := p.stop()
		if err != nil {
			t.Fatal(err)
		}
		step("server pod %s deleted and replaced in %.1f s; %s", victim, time.Since(began).Seconds(), rep)
		judge(t, "the pod's replacement", rep, true)
		checkAll(t, "after the pod's replacement")
	})

	t.Run("kubectl drain respects the PodDisruptionBudget", func(t *testing.T) {
		checkDrain(ctx, t, c, realm, rc, polled, step)
		checkAll(t, "after the drain and uncordon")
	})

	t.Run("managed Redis comes back from its volume with every session", func(t *testing.T) {
		pod := redisPod(ctx, t, c)
		p := startPoller(ctx, rc, polled)
		defer p.stop() // on a failure too
		began := time.Now()
		if err := c.Kube.CoreV1().Pods(c.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		err := childproc.Poll(ctx, 300*time.Millisecond, func(ctx context.Context) error {
			p, err := c.Kube.CoreV1().Pods(c.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.UID == pod.UID || !podReady(p) {
				return fmt.Errorf("redis pod %s not yet replaced and Ready", pod.Name)
			}
			return c.WaitReady(ctx)
		})
		rep := p.stop()
		if err != nil {
			t.Fatal(err)
		}
		step("managed Redis pod %s deleted, back and Ready (realm Ready) in %.1f s; %s", pod.Name, time.Since(began).Seconds(), rep)
		judge(t, "Redis's restart", rep, false)
		checkAll(t, "after Redis restarted")
		// And new sessions are written to it.
		if _, err := accountLogin(ctx, rc, "/login", "user0@example.com", password, nil); err != nil {
			t.Errorf("a login after Redis restarted: %v", err)
		}
	})
	step("done")
}

// judge fails the test on every request the realm answered without a valid session while
// the cluster changed. While servers come and go (served: a rollout, a deleted pod, a drain)
// every request must also be answered, and without a server error: a terminating server
// keeps serving through its preStop pause until kube-proxy has stopped sending it
// connections (before that pause, 2 to 11 of ~150 requests per rollout were refused). While
// Redis restarts, the servers answer 500 for what needs Redis (they fail closed), and those
// are only logged.
func judge(t *testing.T, during string, rep pollReport, served bool) {
	t.Helper()
	if len(rep.Failures) > 0 {
		t.Errorf("during %s, %d requests were answered without a valid session:\n%s", during, len(rep.Failures), strings.Join(rep.Failures, "\n"))
	}
	report := t.Logf
	if served {
		report = t.Errorf
	}
	if len(rep.ServerErrors) > 0 {
		report("during %s, %d of %d requests were answered with a server error:\n%s",
			during, len(rep.ServerErrors), rep.total(), strings.Join(rep.ServerErrors, "\n"))
	}
	if len(rep.Unanswered) > 0 {
		report("during %s, %d of %d requests got no answer (connection refused, reset or timed out):\n%s",
			during, len(rep.Unanswered), rep.total(), strings.Join(rep.Unanswered, "\n"))
	}
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// checkOperator: the operator runs as the ServiceAccount helm installed, which the chart's
// RBAC binds.
func checkOperator(ctx context.Context, t *testing.T, c *devcluster.Cluster) {
	t.Helper()
	sa := c.OperatorPod.Spec.ServiceAccountName
	if sa == "" || sa != c.OperatorServiceAccount {
		t.Errorf("operator pod %s runs as ServiceAccount %q, want the chart's %q", c.OperatorPod.Name, sa, c.OperatorServiceAccount)
	}
	if img := c.OperatorPod.Spec.Containers[0].Image; img != c.Image {
		t.Errorf("operator image %s, want the built %s", img, c.Image)
	}
	subject := func(subs []rbacv1.Subject) bool {
		return slices.ContainsFunc(subs, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == c.ReleaseNamespace
		})
	}
	crbs, err := c.Kube.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + c.Release})
	if err != nil {
		t.Fatal(err)
	}
	var bound []string
	for _, b := range crbs.Items {
		if subject(b.Subjects) {
			bound = append(bound, "ClusterRole "+b.RoleRef.Name)
		}
	}
	rbs, err := c.Kube.RbacV1().RoleBindings(c.ReleaseNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + c.Release})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range rbs.Items {
		if subject(b.Subjects) {
			bound = append(bound, b.RoleRef.Kind+" "+b.RoleRef.Name)
		}
	}
	if len(bound) == 0 {
		t.Errorf("no binding of the chart grants anything to ServiceAccount %s/%s", c.ReleaseNamespace, sa)
	}
	t.Logf("operator pod %s: ServiceAccount %s, bound to %v", c.OperatorPod.Name, sa, bound)
}

// checkRestricted reads a pod's security context from the API: non-root, a read-only root,
// no capabilities, no privilege escalation, the runtime's seccomp profile.
func checkRestricted(t *testing.T, p *corev1.Pod) {
	t.Helper()
	psc := p.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	for _, ctr := range p.Spec.Containers {
		sc := ctr.SecurityContext
		if sc == nil {
			t.Errorf("pod %s container %s: no security context", p.Name, ctr.Name)
			continue
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		checks := map[string]bool{
			"runAsNonRoot":                   nonRoot,
			"readOnlyRootFilesystem":         sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem,
			"allowPrivilegeEscalation false": sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
			"not privileged":                 sc.Privileged == nil || !*sc.Privileged,
			"capabilities drop ALL":          sc.Capabilities != nil && slices.Contains(sc.Capabilities.Drop, "ALL") && len(sc.Capabilities.Add) == 0,
			"seccomp RuntimeDefault":         seccomp != nil && seccomp.Type == corev1.SeccompProfileTypeRuntimeDefault,
		}
		for what, ok := range checks {
			if !ok {
				t.Errorf("pod %s container %s: not %s (%+v)", p.Name, ctr.Name, what, sc)
			}
		}
	}
}

// processes are the pids whose command line starts with prefix (NUL-separated arguments, or
// the title Redis rewrites its command line to).
func processes(prefix string) []string {
	var pids []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range procs {
		if b, _ := os.ReadFile(c); strings.HasPrefix(string(b), prefix) {
			pids = append(pids, filepath.Base(filepath.Dir(c)))
		}
	}
	return pids
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// redisPod is the realm's managed Redis pod (its StatefulSet's only one).
func redisPod(ctx context.Context, t *testing.T, c *devcluster.Cluster) *corev1.Pod {
	t.Helper()
	sts, err := c.Kube.AppsV1().StatefulSets(c.Namespace).Get(ctx, c.Realm.Name+"-redis", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Kube.CoreV1().Pods(c.Namespace).Get(ctx, sts.Name+"-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Its data is on a claim, bound to a volume of the node's StorageClass.
	var claims []string
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims = append(claims, v.PersistentVolumeClaim.ClaimName)
		}
	}
	if len(claims) != 1 {
		t.Fatalf("the managed Redis pod %s mounts claims %v, want one", p.Name, claims)
	}
	pvc, err := c.Kube.CoreV1().PersistentVolumeClaims(c.Namespace).Get(ctx, claims[0], metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != kubenode.StorageClassName {
		t.Errorf("claim %s: %s, class %v; want Bound of class %s", pvc.Name, pvc.Status.Phase, pvc.Spec.StorageClassName, kubenode.StorageClassName)
	}
	return p
}

// checkNetworkPolicies: the operator rendered one policy for the servers and one for Redis,
// each selecting its pods. The node's bridge CNI plugin does not enforce them (docs/node.md).
func checkNetworkPolicies(ctx context.Context, t *testing.T, c *devcluster.Cluster) {
	t.Helper()
	nps, err := c.Kube.NetworkingV1().NetworkPolicies(c.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	servers, err := c.ServerPods(ctx)
	if err != nil || len(servers) == 0 {
		t.Fatalf("server pods: %v", err)
	}
	redis := redisPod(ctx, t, c)
	selects := func(pod *corev1.Pod) []string {
		var names []string
		for _, np := range nps.Items {
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) && len(np.Spec.Ingress) > 0 {
				names = append(names, np.Name)
			}
		}
		return names
	}
	s, r := selects(&servers[0]), selects(redis)
	if len(s) == 0 {
		t.Errorf("no NetworkPolicy selects the server pods (policies: %d)", len(nps.Items))
	}
	if len(r) == 0 {
		t.Errorf("no NetworkPolicy selects the Redis pod (policies: %d)", len(nps.Items))
	}
	t.Logf("NetworkPolicies %v select the servers, %v the Redis pod (present; the bridge CNI does not enforce them)", s, r)
}

// checkDrain drains the node of the realm's server pods with kubectl: with one node and a
// PodDisruptionBudget of maxUnavailable 1, drain evicts one pod (its replacement cannot be
// scheduled on the cordoned node) and must then refuse the other until it times out; the
// eviction API itself refuses it (429). Uncordoned, the realm comes back to two servers.
func checkDrain(ctx context.Context, t *testing.T, c *devcluster.Cluster, realm *authv1.AuthRealm, rc *realmClient, polled []session, step func(string, ...any)) {
	t.Helper()
	kubectl := c.Node.Kubectl()
	pdb, err := c.Kube.PolicyV1().PodDisruptionBudgets(c.Namespace).Get(ctx, realm.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB %s: maxUnavailable %v, want the sample's 1", pdb.Name, pdb.Spec.MaxUnavailable)
	}
	r, err := c.GetRealm(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Uncordon once, however the test leaves this step: a cordoned node would fail every
	// step after it.
	var uncordonOnce sync.Once
	uncordon := func() {
		uncordonOnce.Do(func() {
			uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer ucancel()
			out, err := exec.CommandContext(uctx, kubectl, "--kubeconfig", c.Node.Kubeconfig(), "uncordon", kubenode.NodeName).CombinedOutput()
			if err != nil {
				t.Errorf("kubectl uncordon: %v\n%s", err, out)
			}
		})
	}
	defer uncordon()
	p := startPoller(ctx, rc, polled)
	defer p.stop() // on a failure too
	began := time.Now()
	dctx, dcancel := context.WithTimeout(ctx, 90*time.Second)
	defer dcancel()
	cmd := exec.CommandContext(dctx, kubectl, "--kubeconfig", c.Node.Kubeconfig(), "drain", kubenode.NodeName,
		"--pod-selector", r.Status.Selector, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout", "12s")
	out, err := cmd.CombinedOutput()
	drained := time.Since(began)
	if err == nil {
		t.Fatalf("kubectl drain evicted every server pod despite the PodDisruptionBudget:\n%s", out)
	}
	t.Logf("kubectl drain (%.1f s, %v):\n%s", drained.Seconds(), err, out)
	if !strings.Contains(string(out), "disruption budget") {
		t.Errorf("kubectl drain did not say the disruption budget held it back")
	}
	// One server was evicted, one remains Ready, and the eviction API refuses it.
	pods, err := c.ServerPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var running []corev1.Pod
	for _, p := range pods {
		if podReady(&p) {
			running = append(running, p)
		}
	}
	if len(running) != 1 {
		t.Errorf("after the drain %d server pods are Ready, want 1 (the PDB allows one to go): %d pods", len(running), len(pods))
	}
	for _, p := range running {
		err := c.Kube.CoreV1().Pods(c.Namespace).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: c.Namespace}})
		if !apierrors.IsTooManyRequests(err) {
			t.Errorf("evicting the last Ready server %s: %v, want 429 (the PDB)", p.Name, err)
		} else {
			t.Logf("the eviction API refuses %s: %v", p.Name, err)
		}
	}
	uncordon()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	rep := p.stop()
	step("drain held back by the PDB, uncordoned and two servers Ready again in %.1f s; %s", time.Since(began).Seconds(), rep)
	judge(t, "the drain", rep, true)
}

// checkKubectlLatch runs the real kubectl plugin against the node, as the node's admin: it
// finds a ready server pod of the realm, execs latch admin in it (the streaming envtest could
// not show), and the answer lists the user's sessions; the pod's log, where the plugin sends
// the audit, names the Kubernetes identity that acted.
func checkKubectlLatch(ctx context.Context, t *testing.T, c *devcluster.Cluster, realm *authv1.AuthRealm, login string) {
	t.Helper()
	began := time.Now()
	out, err := c.KubectlLatch(ctx, "sessions", "list", "--user", login)
	if err != nil {
		t.Fatal(err)
	}
	var sessions []struct{ ID, Dialect string }
	if err := json.Unmarshal(out, &sessions); err != nil {
		t.Fatalf("kubectl latch sessions list: %v: %s", err, out)
	}
	dialects := map[string]int{}
	for _, s := range sessions {
		dialects[s.Dialect]++
	}
	if dialects["account"] != 2 || dialects["deviseToken"] != 1 {
		t.Errorf("kubectl latch sessions list --user %s: %+v, want its two account sessions and its deviseToken one", login, sessions)
	}
	// The audit event is in one server pod's log, naming who acted as the API server knows
	// them (kubenode.AdminUser), not the kubeconfig's user name.
	line, err := c.AuditEvent(ctx, began, "admin.sessions.list", `"actor":"`+kubenode.AdminUser+`"`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("audit: %s", line)
}
