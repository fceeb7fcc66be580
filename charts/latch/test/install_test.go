package charttest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// TestInstall installs, upgrades and uninstalls the chart with helm against a real API server
// and checks what the API server then holds. envtest runs no kubelet and no controllers, so
// no pod ever starts; instead the test runs the operator binary itself, with the installed
// Deployment's arguments and the installed ServiceAccount's token, which proves that the
// chart's RBAC is enough for the operator to elect a leader and reconcile a realm.
//
// The steps build on each other (an upgrade needs an install), so they run in order in one
// test; a step the next ones need stops the test when it fails.
func TestInstall(t *testing.T) {
	k8s := adminClient(t)
	for _, ns := range []string{"team-a", "team-b", "team-c", "team-d"} {
		// watchNamespaces must exist before the RoleBindings in them can be created.
		if err := k8s.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	checkClusterScopedList(t)
	start := time.Now()
	step := func(what string) { t.Logf("%5.1fs %s", time.Since(start).Seconds(), what) }

	// Install with the defaults: every namespace watched, the CRDs installed and kept.
	step("helm install (defaults)")
	out := mustHelm(t, "install", releaseName, chartDir, "--namespace", releaseNamespace, "--create-namespace", "--kubeconfig", adminKubeconfig)
	if !strings.Contains(out, "watching every namespace") {
		t.Errorf("helm install printed no NOTES saying what is watched:\n%s", out)
	}
	checkCRDs(t, k8s, true)
	checkRelease(t, k8s, 1, nil)
	checkPermissions(t, nil)
	createRealm(t, k8s, "team-c", "first")
	step("operator as the installed ServiceAccount, every namespace")
	runOperator(t, k8s, []types.NamespacedName{{Namespace: "team-c", Name: "first"}}, nil)

	// Upgrade: two replicas, and only two namespaces watched and granted.
	step("helm upgrade (replicaCount=2, watchNamespaces)")
	mustHelm(t, "upgrade", releaseName, chartDir, "--namespace", releaseNamespace, "--kubeconfig", adminKubeconfig,
		"--set", "replicaCount=2", "--set", "watchNamespaces={team-a,team-b}")
	checkRelease(t, k8s, 2, []string{"team-a", "team-b"})
	checkPermissions(t, []string{"team-a", "team-b"})
	createRealm(t, k8s, "team-a", "watched")
	createRealm(t, k8s, "team-d", "unwatched")
	step("operator as the installed ServiceAccount, listed namespaces")
	runOperator(t, k8s, []types.NamespacedName{{Namespace: "team-a", Name: "watched"}}, []types.NamespacedName{{Namespace: "team-d", Name: "unwatched"}})

	// Uninstall: the operator goes, the CRDs and so the realms stay (crds.keep defaults to true).
	step("helm uninstall (CRDs kept)")
	out = mustHelm(t, "uninstall", releaseName, "--namespace", releaseNamespace, "--kubeconfig", adminKubeconfig)
	if !strings.Contains(out, "kept due to the resource policy") {
		t.Errorf("helm uninstall did not report the kept CRDs:\n%s", out)
	}
	checkReleaseGone(t, k8s)
	checkCRDs(t, k8s, true)
	realms := &authv1.AuthRealmList{}
	if err := k8s.List(t.Context(), realms); err != nil {
		t.Fatal(err)
	}
	if len(realms.Items) != 3 {
		t.Errorf("after uninstall %d realms remain, want all 3", len(realms.Items))
	}

	// Install again with crds.keep=false: helm adopts the kept CRDs (same release name and
	// namespace), and this time uninstalling removes them.
	step("helm install (crds.keep=false)")
	mustHelm(t, "install", releaseName, chartDir, "--namespace", releaseNamespace, "--kubeconfig", adminKubeconfig, "--set", "crds.keep=false")
	// Adoption leaves the live CRDs' keep annotation in place (helm patches what changed
	// between manifests, and the adopted objects had no manifest before), but helm decides
	// what to keep on uninstall from the release's manifest, which has none.
	checkCRDs(t, k8s, true)
	if manifest := mustHelm(t, "get", "manifest", releaseName, "--namespace", releaseNamespace, "--kubeconfig", adminKubeconfig); strings.Contains(manifest, keepAnnotation) {
		t.Errorf("crds.keep=false, but the release manifest still has %s", keepAnnotation)
	}
	checkRelease(t, k8s, 1, nil)
	step("helm uninstall (CRDs removed)")
	mustHelm(t, "uninstall", releaseName, "--namespace", releaseNamespace, "--kubeconfig", adminKubeconfig)
	checkReleaseGone(t, k8s)
	for _, name := range []string{"authrealms.auth.latch.dev", "deviceclients.auth.latch.dev"} {
		// The API server deletes the remaining realms first, then the CRD.
		eventually(t, time.Minute, func() error {
			err := k8s.Get(t.Context(), types.NamespacedName{Name: name}, &apiextensionsv1.CustomResourceDefinition{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("CRD %s still exists after uninstall with crds.keep=false (%v)", name, err)
		})
	}
	if out := mustHelm(t, "list", "--all", "--namespace", releaseNamespace, "--kubeconfig", adminKubeconfig, "--short"); strings.TrimSpace(out) != "" {
		t.Errorf("helm list after uninstall: %q", out)
	}
	step("done")
}

func adminClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(adminConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkCRDs checks both CRDs are served, and carry the keep annotation when wanted.
func checkCRDs(t *testing.T, k8s client.Client, keep bool) {
	t.Helper()
	for _, name := range []string{"authrealms.auth.latch.dev", "deviceclients.auth.latch.dev"} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		eventually(t, 30*time.Second, func() error {
			if err := k8s.Get(t.Context(), types.NamespacedName{Name: name}, crd); err != nil {
				return err
			}
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
			}
			return fmt.Errorf("CRD %s is not established: %v", name, crd.Status.Conditions)
		})
		if got := crd.Annotations[keepAnnotation] == "keep"; got != keep {
			t.Errorf("CRD %s: keep annotation present = %v, want %v", name, got, keep)
		}
	}
}

// checkRelease checks the API server holds the operator's objects as the values ask.
func checkRelease(t *testing.T, k8s client.Client, replicas int32, watch []string) {
	t.Helper()
	ctx := t.Context()
	d := &appsv1.Deployment{}
	mustGet(t, k8s, releaseNamespace, fullname, d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != replicas {
		t.Errorf("Deployment replicas = %v, want %d", d.Spec.Replicas, replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != defaultImage(t) {
		t.Errorf("Deployment image = %s, want %s", c.Image, defaultImage(t))
	}
	wantWatch := []string(nil)
	if len(watch) > 0 {
		wantWatch = []string{strings.Join(watch, ",")}
	}
	if got := flagValues(c.Args, "--watch-namespaces"); !slices.Equal(got, wantWatch) {
		t.Errorf("--watch-namespaces = %v, want %v", got, wantWatch)
	}
	mustGet(t, k8s, releaseNamespace, fullname, &corev1.ServiceAccount{})
	mustGet(t, k8s, releaseNamespace, fullname+"-metrics", &corev1.Service{})
	mustGet(t, k8s, releaseNamespace, fullname+"-leader-election", &rbacv1.Role{})
	mustGet(t, k8s, releaseNamespace, fullname+"-leader-election", &rbacv1.RoleBinding{})
	mustGet(t, k8s, "", fullname, &rbacv1.ClusterRole{})
	mustGet(t, k8s, "", fullname+"-cluster", &rbacv1.ClusterRole{})
	mustGet(t, k8s, "", fullname+"-cluster", &rbacv1.ClusterRoleBinding{})
	err := k8s.Get(ctx, types.NamespacedName{Name: fullname}, &rbacv1.ClusterRoleBinding{})
	switch {
	case len(watch) == 0 && err != nil:
		t.Errorf("watching every namespace, but the cluster-wide binding is missing: %v", err)
	case len(watch) > 0 && !apierrors.IsNotFound(err):
		t.Errorf("watching %v, but the cluster-wide binding of the namespaced rules is still there (%v)", watch, err)
	}
	for _, ns := range watch {
		mustGet(t, k8s, ns, fullname, &rbacv1.RoleBinding{})
	}
}

// checkReleaseGone checks uninstall removed every object of the release but the CRDs.
func checkReleaseGone(t *testing.T, k8s client.Client) {
	t.Helper()
	gone := []struct {
		namespace, name string
		obj             client.Object
	}{
		{releaseNamespace, fullname, &appsv1.Deployment{}},
		{releaseNamespace, fullname, &corev1.ServiceAccount{}},
		{releaseNamespace, fullname + "-metrics", &corev1.Service{}},
		{releaseNamespace, fullname + "-leader-election", &rbacv1.Role{}},
		{releaseNamespace, fullname + "-leader-election", &rbacv1.RoleBinding{}},
		{"", fullname, &rbacv1.ClusterRole{}},
		{"", fullname + "-cluster", &rbacv1.ClusterRole{}},
		{"", fullname, &rbacv1.ClusterRoleBinding{}},
		{"", fullname + "-cluster", &rbacv1.ClusterRoleBinding{}},
		{"", fullname + "-metrics-auth", &rbacv1.ClusterRole{}},
		{"", fullname + "-metrics-auth", &rbacv1.ClusterRoleBinding{}},
		{"", releaseName + "-metrics-reader", &rbacv1.ClusterRole{}},
		{"team-a", fullname, &rbacv1.RoleBinding{}},
		{"team-b", fullname, &rbacv1.RoleBinding{}},
	}
	for _, g := range gone {
		err := k8s.Get(t.Context(), types.NamespacedName{Namespace: g.namespace, Name: g.name}, g.obj)
		if !apierrors.IsNotFound(err) {
			t.Errorf("%T %s/%s survives uninstall (%v)", g.obj, g.namespace, g.name, err)
		}
	}
}

func mustGet(t *testing.T, k8s client.Client, namespace, name string, obj client.Object) {
	t.Helper()
	if err := k8s.Get(t.Context(), types.NamespacedName{Namespace: namespace, Name: name}, obj); err != nil {
		t.Errorf("%T %s/%s: %v", obj, namespace, name, err)
	}
}

// checkClusterScopedList checks the chart's list of cluster-scoped resources (clusterScoped
// here, $clusterScoped in rbac.yaml) against the API server, for every resource the manager
// has a rule for: a cluster-scoped resource missing from it would be bound only per
// namespace and so never granted.
func checkClusterScopedList(t *testing.T) {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(adminConfig)
	if err != nil {
		t.Fatal(err)
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	namespaced := map[string]bool{} // "group/resource"
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			namespaced[gv.Group+"/"+r.Name] = r.Namespaced
		}
	}
	// Resources this control plane does not serve, with their scope from their own CRDs: the
	// chart's before it installs them, the Prometheus Operator's.
	for _, r := range []string{"auth.latch.dev/authrealms", "auth.latch.dev/deviceclients", "monitoring.coreos.com/servicemonitors"} {
		namespaced[r] = true
	}
	for _, rule := range generatedRules(t) {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				base := strings.Split(res, "/")[0] // finalizers and status share their parent's scope
				ns, ok := namespaced[g+"/"+base]
				if !ok {
					t.Errorf("the API server does not serve %s/%s, which the manager has a rule for", g, base)
					continue
				}
				if clusterScoped[base] == ns {
					t.Errorf("%s/%s: namespaced=%v, but the chart's cluster-scoped list says %v", g, base, ns, clusterScoped[base])
				}
			}
		}
	}
}

// operatorUser is the identity the installed ServiceAccount authenticates as.
var operatorUser = "system:serviceaccount:" + releaseNamespace + ":" + fullname

// checkPermissions asks the API server's authorizer (SubjectAccessReview) what the operator's
// ServiceAccount may do: everything the generated rules grant, where the values say (all
// namespaces, or only the listed ones), and nothing the operator does not use.
func checkPermissions(t *testing.T, watch []string) {
	t.Helper()
	k8s := adminClient(t)
	can := func(ns, verb, group, resource, name string) bool {
		t.Helper()
		res, sub, _ := strings.Cut(resource, "/")
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   operatorUser,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + releaseNamespace, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: verb, Group: group, Resource: res, Subresource: sub, Name: name,
			},
		}}
		if err := k8s.Create(t.Context(), sar); err != nil {
			t.Fatal(err)
		}
		return sar.Status.Allowed
	}
	expect := func(want bool, ns, verb, group, resource, name string) {
		t.Helper()
		if got := can(ns, verb, group, resource, name); got != want {
			where := "in every namespace"
			if ns != "" {
				where = "in " + ns
			}
			t.Errorf("operator may %s %s.%s %q %s = %v, want %v", verb, resource, group, name, where, got, want)
		}
	}

	for _, rule := range generatedRules(t) {
		for _, g := range rule.APIGroups {
			for _, r := range rule.Resources {
				for _, v := range rule.Verbs {
					switch {
					case clusterScoped[strings.Split(r, "/")[0]]:
						expect(true, "", v, g, r, "")
					case len(watch) == 0:
						expect(true, "", v, g, r, "")
					default:
						for _, ns := range watch {
							expect(true, ns, v, g, r, "")
						}
						expect(false, "team-d", v, g, r, "")
						expect(false, "", v, g, r, "")
					}
				}
			}
		}
	}
	// Leader election: one Lease, in the release namespace.
	expect(true, releaseNamespace, "create", "coordination.k8s.io", "leases", "")
	expect(true, releaseNamespace, "get", "coordination.k8s.io", "leases", leaderElectionID)
	expect(true, releaseNamespace, "update", "coordination.k8s.io", "leases", leaderElectionID)
	expect(false, releaseNamespace, "update", "coordination.k8s.io", "leases", "another-lease")
	expect(false, releaseNamespace, "delete", "coordination.k8s.io", "leases", leaderElectionID)
	expect(false, releaseNamespace, "list", "coordination.k8s.io", "leases", "")
	expect(false, "team-a", "create", "coordination.k8s.io", "leases", "")
	// What the operator never does: run pods directly, write the specs users own, create
	// or delete their objects, touch nodes, CRDs or RBAC (which would let it grant itself more).
	ns := "team-a"
	for _, denied := range []struct{ verb, group, resource string }{
		{"create", "", "pods"}, {"list", "", "pods"}, {"create", "", "pods/exec"},
		{"create", "auth.latch.dev", "authrealms"}, {"update", "auth.latch.dev", "authrealms"}, {"delete", "auth.latch.dev", "authrealms"},
		{"create", "auth.latch.dev", "deviceclients"}, {"update", "auth.latch.dev", "deviceclients"}, {"delete", "auth.latch.dev", "deviceclients"},
		{"create", "rbac.authorization.k8s.io", "rolebindings"}, {"bind", "rbac.authorization.k8s.io", "clusterroles"},
		{"escalate", "rbac.authorization.k8s.io", "roles"}, {"create", "", "serviceaccounts/token"},
		{"update", "", "namespaces"}, {"delete", "", "namespaces"},
	} {
		expect(false, ns, denied.verb, denied.group, denied.resource, "")
	}
	// Secrets: the operator reads the ones realms name, creates the keys and credentials
	// Secrets, patches (applies) them and deletes a stale one. A stolen operator token must not
	// replace a Secret wholesale (update) nor empty a namespace of them (deletecollection).
	scopes := watch
	if len(scopes) == 0 {
		scopes = []string{"", "team-a", "kube-system"}
	}
	for _, ns := range scopes {
		expect(false, ns, "update", "", "secrets", "")
		expect(false, ns, "deletecollection", "", "secrets", "")
	}
	// The authenticated metrics endpoint asks the API server who a caller is and whether it
	// may read /metrics; the operator itself may not read its metrics (no scraper role).
	expect(true, "", "create", "authentication.k8s.io", "tokenreviews", "")
	expect(true, "", "create", "authorization.k8s.io", "subjectaccessreviews", "")
	expect(false, "", "list", "", "nodes", "")
	expect(false, "", "create", "apiextensions.k8s.io", "customresourcedefinitions", "")
	expect(false, "", "update", "rbac.authorization.k8s.io", "clusterroles", "")
	if len(watch) > 0 {
		expect(false, "kube-system", "get", "", "secrets", "")
	}
}

// createRealm creates the minimal sample realm (config/samples) in a namespace.
func createRealm(t *testing.T, k8s client.Client, namespace, name string) {
	t.Helper()
	realm := readObject[authv1.AuthRealm](t, filepath.Join(repoRoot, "config", "samples", "auth_v1alpha1_authrealm_minimal.yaml"))
	realm.Namespace, realm.Name = namespace, name
	if err := k8s.Create(t.Context(), realm); err != nil {
		t.Fatalf("create realm %s/%s: %v", namespace, name, err)
	}
}

// runOperator runs the binary the Dockerfile builds with the args of the installed Deployment
// (only the listen addresses moved to free loopback ports) and the installed ServiceAccount's
// token, as the kubelet would. It checks the operator becomes ready, wins the Lease,
// reconciles the realms it should (their server Deployment appears, with the chart's image),
// ignores the others, serves metrics, and is never refused by the API server.
func runOperator(t *testing.T, k8s client.Client, reconciled, ignored []types.NamespacedName) {
	t.Helper()
	ctx := t.Context()
	d := &appsv1.Deployment{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: releaseNamespace, Name: fullname}, d); err != nil {
		t.Fatal(err)
	}
	args := slices.Clone(d.Spec.Template.Spec.Containers[0].Args)
	probeAddr, metricsAddr := freeAddr(t), freeAddr(t)
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "--health-probe-bind-address="):
			args[i] = "--health-probe-bind-address=" + probeAddr
		case strings.HasPrefix(a, "--metrics-bind-address="):
			args[i] = "--metrics-bind-address=" + metricsAddr
		}
	}

	sa := d.Spec.Template.Spec.ServiceAccountName
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := k8s.SubResource("token").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: releaseNamespace, Name: sa}}, tr); err != nil {
		t.Fatalf("token for ServiceAccount %s: %v", sa, err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "operator.kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: adminConfig.Host, CertificateAuthorityData: adminConfig.CAData}
	cfg.AuthInfos["operator"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["operator"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "operator"}
	cfg.CurrentContext = "operator"
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}

	// The Lease's holder before this run: the operator must take it over (a previous run
	// released it on SIGTERM).
	previous := &coordinationv1.Lease{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: releaseNamespace, Name: leaderElectionID}, previous); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}

	var logs lockedBuffer
	cmd := exec.Command(latchBinary(t), args...)
	// Only what a container would have: no inherited kubeconfig, no in-cluster variables, and
	// the environment the Deployment declares, its downward API filled in as the kubelet would.
	cmd.Env = []string{"KUBECONFIG=" + kubeconfig, "HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		switch {
		case e.ValueFrom == nil:
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			cmd.Env = append(cmd.Env, e.Name+"="+d.Namespace)
		default:
			t.Fatalf("the test cannot fill env %s (%+v)", e.Name, e.ValueFrom)
		}
	}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		// SIGTERM, as the kubelet sends: the operator releases its Lease and exits.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("operator exited with %v after SIGTERM\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("operator did not stop within 30s of SIGTERM\n%s", logs.String())
		}
	}
	t.Cleanup(stop)
	defer func() {
		if t.Failed() {
			t.Logf("operator output:\n%s", logs.String())
		}
	}()

	httpc := &http.Client{Timeout: 2 * time.Second}
	get := func(url string) (int, string, error) {
		resp, err := httpc.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	eventually(t, time.Minute, func() error {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("operator exited early: %v", err)
		default:
		}
		code, _, err := get("http://" + probeAddr + "/readyz")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("readyz: %d", code)
		}
		return err
	})
	eventually(t, time.Minute, func() error {
		lease := &coordinationv1.Lease{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: releaseNamespace, Name: leaderElectionID}, lease); err != nil {
			return err
		}
		holder := ptr.Deref(lease.Spec.HolderIdentity, "")
		if holder == "" || holder == ptr.Deref(previous.Spec.HolderIdentity, "") {
			return fmt.Errorf("the Lease is held by %q, not by this operator", holder)
		}
		return nil
	})
	for _, r := range reconciled {
		eventually(t, time.Minute, func() error {
			server := &appsv1.Deployment{}
			if err := k8s.Get(ctx, r, server); err != nil {
				return fmt.Errorf("realm %s: server Deployment: %w", r, err)
			}
			// The chart's image reaches the auth servers through --server-image.
			if img := server.Spec.Template.Spec.Containers[0].Image; img != defaultImage(t) {
				return fmt.Errorf("realm %s: server image %s, want %s", r, img, defaultImage(t))
			}
			return nil
		})
	}
	if len(ignored) > 0 {
		// The watched realms were reconciled; give the unwatched ones as long again to show
		// that nothing reaches them.
		time.Sleep(2 * time.Second)
	}
	for _, r := range ignored {
		realm := &authv1.AuthRealm{}
		if err := k8s.Get(ctx, r, realm); err != nil {
			t.Fatal(err)
		}
		if realm.Status.ObservedGeneration != 0 || len(realm.Status.Conditions) != 0 {
			t.Errorf("realm %s in an unwatched namespace has status %+v", r, realm.Status)
		}
		if err := k8s.Get(ctx, r, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			t.Errorf("realm %s in an unwatched namespace got a server Deployment (%v)", r, err)
		}
	}
	checkMetricsAuth(t, k8s, metricsAddr)
	for _, r := range reconciled {
		checkRedisPolicyNamesOperator(t, k8s, r)
	}
	stop()
	if strings.Contains(strings.ToLower(logs.String()), "forbidden") {
		t.Errorf("the API server refused the operator something its RBAC should grant:\n%s", logs.String())
	}
}

// freeAddr returns a loopback address with a port free at the time of the call.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventually retries check until it returns nil, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
