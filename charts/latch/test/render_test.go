package charttest

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	fullname = "latch-operator" // <release>-operator
	// leaderElectionID is the Lease name manager.go fixes (LeaderElectionID).
	leaderElectionID = "latch-operator.latch.dev"
	keepAnnotation   = "helm.sh/resource-policy"
)

// templateCases are the values that change what the chart renders, each with what must then
// be true of the rendered objects. checkEveryRender runs on each as well.
var templateCases = []struct {
	name   string
	values string
	check  func(t *testing.T, m manifest)
}{
	{
		name:   "defaults",
		values: "",
		check: func(t *testing.T, m manifest) {
			d := deployment(t, m)
			c := d.Spec.Template.Spec.Containers[0]
			if want := defaultImage(t); c.Image != want {
				t.Errorf("image = %q, want hack/IMAGE %q", c.Image, want)
			}
			if c.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("imagePullPolicy = %q, want IfNotPresent", c.ImagePullPolicy)
			}
			if len(d.Spec.Template.Spec.ImagePullSecrets) != 0 {
				t.Errorf("imagePullSecrets = %v, want none", d.Spec.Template.Spec.ImagePullSecrets)
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
				t.Errorf("replicas = %v, want 1", d.Spec.Replicas)
			}
			if arg := flagValues(c.Args, "--watch-namespaces"); len(arg) != 0 {
				t.Errorf("--watch-namespaces = %v, want absent (watch every namespace)", arg)
			}
			for _, want := range []string{"--client-resync-period=1m", "--client-workers=4", "--realm-workers=2", "--zap-log-level=info"} {
				if !slices.Contains(c.Args, want) {
					t.Errorf("args %v lack %s", c.Args, want)
				}
			}
			// The operator's namespaced rules are bound cluster-wide, and nowhere else.
			crb := get[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", "", fullname)
			if crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != fullname {
				t.Errorf("ClusterRoleBinding %s binds %s %s, want ClusterRole %s", fullname, crb.RoleRef.Kind, crb.RoleRef.Name, fullname)
			}
			if got, want := m.names("RoleBinding"), []string{releaseNamespace + "/" + fullname + "-leader-election"}; !slices.Equal(got, want) {
				t.Errorf("RoleBindings = %v, want only %v", got, want)
			}
			if m.find("ServiceAccount", releaseNamespace, fullname) == nil {
				t.Errorf("no ServiceAccount %s", fullname)
			}
			if sms := m.all("ServiceMonitor"); len(sms) != 0 {
				t.Errorf("a ServiceMonitor is rendered by default: %s", m.names("ServiceMonitor"))
			}
			if m.find("Service", releaseNamespace, fullname+"-metrics") == nil {
				t.Errorf("no metrics Service by default")
			}
			// Metrics are served over TLS to authenticated, authorized callers only.
			if got := flagValues(c.Args, "--metrics-secure"); len(got) != 0 && !slices.Equal(got, []string{"true"}) {
				t.Errorf("--metrics-secure = %v, want the default (true)", got)
			}
			if m.find("ClusterRole", "", fullname+"-metrics-auth") == nil || m.find("ClusterRole", "", releaseName+"-metrics-reader") == nil {
				t.Errorf("metrics are authenticated by default, but ClusterRoles are %v", m.names("ClusterRole"))
			}
			requests, limits := c.Resources.Requests, c.Resources.Limits
			if requests.Cpu().IsZero() || requests.Memory().IsZero() || limits.Memory().IsZero() {
				t.Errorf("resources = %+v, want cpu and memory requests and a memory limit", c.Resources)
			}
			// The CRDs are the generated ones, kept on uninstall.
			for _, crd := range checkCRDsMatchConfig(t, m) {
				if crd.Annotations[keepAnnotation] != "keep" {
					t.Errorf("CRD %s: annotation %s = %q, want keep", crd.Name, keepAnnotation, crd.Annotations[keepAnnotation])
				}
			}
		},
	},
	{
		name:   "watch a listed set of namespaces",
		values: "watchNamespaces: [team-a, team-b]\n",
		check: func(t *testing.T, m manifest) {
			c := deployment(t, m).Spec.Template.Spec.Containers[0]
			if got := flagValues(c.Args, "--watch-namespaces"); !slices.Equal(got, []string{"team-a,team-b"}) {
				t.Errorf("--watch-namespaces = %v, want [team-a,team-b]", got)
			}
			for _, ns := range []string{"team-a", "team-b"} {
				rb := get[rbacv1.RoleBinding](t, m, "RoleBinding", ns, fullname)
				if rb.RoleRef.Kind != "ClusterRole" || rb.RoleRef.Name != fullname {
					t.Errorf("RoleBinding %s/%s binds %s %s, want ClusterRole %s", ns, fullname, rb.RoleRef.Kind, rb.RoleRef.Name, fullname)
				}
			}
			// Nothing may grant the namespaced rules cluster-wide; what stays cluster-wide
			// holds cluster-scoped resources only.
			for _, u := range m.all("ClusterRoleBinding") {
				crb := get[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", "", u.GetName())
				if crb.RoleRef.Name == fullname {
					t.Errorf("ClusterRoleBinding %s grants the namespaced rules cluster-wide", crb.Name)
				}
				if metricsRoles[crb.RoleRef.Name] {
					continue // TokenReviews and SubjectAccessReviews exist cluster-wide only (checkMetricsRBAC)
				}
				role := get[rbacv1.ClusterRole](t, m, "ClusterRole", "", crb.RoleRef.Name)
				for _, rule := range role.Rules {
					for _, r := range rule.Resources {
						if !clusterScoped[strings.Split(r, "/")[0]] {
							t.Errorf("ClusterRoleBinding %s grants namespaced %s cluster-wide", crb.Name, r)
						}
					}
				}
			}
		},
	},
	{
		name:   "CRDs not installed",
		values: "crds: {enabled: false, keep: true}\n",
		check: func(t *testing.T, m manifest) {
			if crds := m.names("CustomResourceDefinition"); len(crds) != 0 {
				t.Errorf("crds.enabled=false still renders %v", crds)
			}
			deployment(t, m)
		},
	},
	{
		name:   "CRDs removed on uninstall",
		values: "crds: {enabled: true, keep: false}\n",
		check: func(t *testing.T, m manifest) {
			for _, crd := range checkCRDsMatchConfig(t, m) {
				if v, ok := crd.Annotations[keepAnnotation]; ok {
					t.Errorf("crds.keep=false: CRD %s still has %s=%s", crd.Name, keepAnnotation, v)
				}
			}
		},
	},
	{
		name: "ServiceMonitor",
		values: `metrics:
  serviceMonitor: {enabled: true, interval: 15s, labels: {release: prometheus}}
`,
		check: func(t *testing.T, m manifest) {
			sm := m.find("ServiceMonitor", releaseNamespace, fullname)
			if sm == nil {
				t.Fatalf("no ServiceMonitor; rendered %v", m.names("ServiceMonitor"))
			}
			if sm.GetAPIVersion() != "monitoring.coreos.com/v1" {
				t.Errorf("ServiceMonitor apiVersion = %s", sm.GetAPIVersion())
			}
			if sm.GetLabels()["release"] != "prometheus" {
				t.Errorf("ServiceMonitor labels = %v, want release=prometheus among them", sm.GetLabels())
			}
			svc := get[corev1.Service](t, m, "Service", releaseNamespace, fullname+"-metrics")
			selector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			if len(selector) == 0 {
				t.Errorf("ServiceMonitor selects every Service: %v", sm.Object["spec"])
			}
			for k, v := range selector {
				if svc.Labels[k] != v {
					t.Errorf("ServiceMonitor selects %s=%v; the metrics Service has %s=%q", k, v, k, svc.Labels[k])
				}
			}
			endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			if len(endpoints) != 1 {
				t.Fatalf("ServiceMonitor endpoints = %v, want one", endpoints)
			}
			ep, _ := endpoints[0].(map[string]any)
			if ep["port"] != svc.Spec.Ports[0].Name || ep["path"] != "/metrics" || ep["interval"] != "15s" {
				t.Errorf("ServiceMonitor endpoint = %v, want port %s, path /metrics, interval 15s", ep, svc.Spec.Ports[0].Name)
			}
			// The metrics endpoint authenticates its callers: Prometheus scrapes over TLS with
			// its own ServiceAccount token (the manager's certificate is self-signed).
			tlsConfig, _ := ep["tlsConfig"].(map[string]any)
			if ep["scheme"] != "https" || ep["bearerTokenFile"] != "/var/run/secrets/kubernetes.io/serviceaccount/token" || tlsConfig["insecureSkipVerify"] != true {
				t.Errorf("ServiceMonitor endpoint = %v, want scheme https, bearerTokenFile the pod's token, tlsConfig.insecureSkipVerify", ep)
			}
		},
	},
	{
		name: "metrics served without authentication",
		values: `metrics:
  secure: false
  serviceMonitor: {enabled: true}
`,
		check: func(t *testing.T, m manifest) {
			c := deployment(t, m).Spec.Template.Spec.Containers[0]
			if got := flagValues(c.Args, "--metrics-secure"); !slices.Equal(got, []string{"false"}) {
				t.Errorf("--metrics-secure = %v, want false", got)
			}
			sm := m.find("ServiceMonitor", releaseNamespace, fullname)
			if sm == nil {
				t.Fatal("no ServiceMonitor")
			}
			endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			if ep, _ := endpoints[0].(map[string]any); ep["scheme"] != "http" || ep["bearerTokenFile"] != nil {
				t.Errorf("ServiceMonitor endpoint = %v, want plain http without a token", ep)
			}
		},
	},
	{
		name: "image from a private registry",
		values: `image: {repository: registry.example.com:5000/platform/latch, tag: v1.2.3, pullPolicy: Always}
imagePullSecrets: [{name: regcred}]
`,
		check: func(t *testing.T, m manifest) {
			spec := deployment(t, m).Spec.Template.Spec
			c := spec.Containers[0]
			if want := "registry.example.com:5000/platform/latch:v1.2.3"; c.Image != want {
				t.Errorf("image = %q, want %q", c.Image, want)
			}
			if c.ImagePullPolicy != corev1.PullAlways {
				t.Errorf("imagePullPolicy = %q, want Always", c.ImagePullPolicy)
			}
			if want := []corev1.LocalObjectReference{{Name: "regcred"}}; !equality.Semantic.DeepEqual(spec.ImagePullSecrets, want) {
				t.Errorf("imagePullSecrets = %v, want %v", spec.ImagePullSecrets, want)
			}
		},
	},
	{
		name: "image pinned by digest",
		values: `image:
  repository: ghcr.io/latchauth/latch
  tag: v1.2.3
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  pullPolicy: IfNotPresent
`,
		check: func(t *testing.T, m manifest) {
			c := deployment(t, m).Spec.Template.Spec.Containers[0]
			want := "ghcr.io/latchauth/latch@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
			if c.Image != want {
				t.Errorf("image = %q, want %q", c.Image, want)
			}
		},
	},
	{
		name:   "existing ServiceAccount",
		values: "serviceAccount: {create: false, name: platform-latch}\n",
		check: func(t *testing.T, m manifest) {
			if sas := m.names("ServiceAccount"); len(sas) != 0 {
				t.Errorf("serviceAccount.create=false still renders %v", sas)
			}
			if got := deployment(t, m).Spec.Template.Spec.ServiceAccountName; got != "platform-latch" {
				t.Errorf("serviceAccountName = %q, want platform-latch", got)
			}
			// checkEveryRender checks that every binding names this account.
		},
	},
	{
		name: "pod settings",
		values: `replicaCount: 3
clientResyncPeriod: 30s
clientWorkers: 8
realmWorkers: 3
logLevel: debug
podLabels: {team: platform}
podAnnotations: {example.com/owner: platform}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: platform, effect: NoSchedule}]
priorityClassName: platform-critical
resources:
  requests: {cpu: 100m, memory: 128Mi}
  limits: {cpu: 1, memory: 512Mi}
`,
		check: func(t *testing.T, m manifest) {
			d := deployment(t, m)
			spec := d.Spec.Template.Spec
			c := spec.Containers[0]
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
				t.Errorf("replicas = %v, want 3", d.Spec.Replicas)
			}
			for _, want := range []string{"--client-resync-period=30s", "--client-workers=8", "--realm-workers=3", "--zap-log-level=debug"} {
				if !slices.Contains(c.Args, want) {
					t.Errorf("args %v lack %s", c.Args, want)
				}
			}
			if d.Spec.Template.Labels["team"] != "platform" {
				t.Errorf("pod labels = %v, want team=platform among them", d.Spec.Template.Labels)
			}
			if _, ok := d.Spec.Selector.MatchLabels["team"]; ok {
				t.Errorf("podLabels leaked into the immutable selector: %v", d.Spec.Selector.MatchLabels)
			}
			if d.Spec.Template.Annotations["example.com/owner"] != "platform" {
				t.Errorf("pod annotations = %v", d.Spec.Template.Annotations)
			}
			if spec.NodeSelector["kubernetes.io/os"] != "linux" || len(spec.Tolerations) != 1 || spec.Tolerations[0].Key != "dedicated" {
				t.Errorf("nodeSelector = %v, tolerations = %v", spec.NodeSelector, spec.Tolerations)
			}
			if spec.PriorityClassName != "platform-critical" {
				t.Errorf("priorityClassName = %q", spec.PriorityClassName)
			}
			if !c.Resources.Limits.Cpu().Equal(resource.MustParse("1")) || !c.Resources.Limits.Memory().Equal(resource.MustParse("512Mi")) {
				t.Errorf("limits = %v, want cpu 1, memory 512Mi", c.Resources.Limits)
			}
		},
	},
}

// TestTemplate renders the chart for each case and checks the parsed objects.
func TestTemplate(t *testing.T) {
	for _, tc := range templateCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := render(t, tc.values)
			checkEveryRender(t, m)
			tc.check(t, m)
		})
	}
}

// TestLint runs helm lint in strict mode (warnings fail) on the defaults and on every
// template case's values.
func TestLint(t *testing.T) {
	for _, tc := range templateCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := mustHelm(t, "lint", "--strict", chartDir, "--namespace", releaseNamespace, "--values", valuesFile(t, tc.values))
			if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

// TestPackage checks the packaged chart holds the chart only: these tests live inside the
// chart directory and .helmignore must keep them out.
func TestPackage(t *testing.T) {
	dir := t.TempDir()
	mustHelm(t, "package", chartDir, "--destination", dir)
	archives, err := filepath.Glob(filepath.Join(dir, "latch-*.tgz"))
	if err != nil || len(archives) != 1 {
		t.Fatalf("helm package wrote %v (%v), want one latch-*.tgz", archives, err)
	}
	f, err := os.Open(archives[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if strings.HasPrefix(h.Name, "latch/test/") || strings.HasSuffix(h.Name, ".go") {
			t.Errorf("packaged chart contains %s", h.Name)
		}
	}
	for _, want := range []string{"latch/Chart.yaml", "latch/values.schema.json", "latch/files/manager-role.yaml", "latch/templates/rbac.yaml"} {
		if !slices.Contains(names, want) {
			t.Errorf("packaged chart lacks %s: %v", want, names)
		}
	}
}

// TestSchemaRefusesBadValues checks that values.schema.json refuses what would render a
// broken or unsafe operator, and says where and why.
func TestSchemaRefusesBadValues(t *testing.T) {
	cases := []struct {
		name   string
		values string
		want   string
	}{
		{"no replicas", "replicaCount: 0\n", "at '/replicaCount': minimum: got 0, want 1"},
		{"replicas as a string", "replicaCount: \"2\"\n", "at '/replicaCount': got string, want integer"},
		{"unknown pull policy", "image: {repository: latchauth/latch, tag: dev, pullPolicy: Sometimes}\n",
			"at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"},
		{"misspelt top-level key", "replicas: 2\n", "additional properties 'replicas' not allowed"},
		{"misspelt nested key", "crds: {enabled: true, keep: true, keepp: false}\n", "at '/crds': additional properties 'keepp' not allowed"},
		{"invalid namespace name", "watchNamespaces: [Team_A]\n", "at '/watchNamespaces/0': 'Team_A' does not match pattern"},
		{"namespace listed twice", "watchNamespaces: [team-a, team-a]\n", "at '/watchNamespaces': items at 0 and 1 are equal"},
		{"tag inside the repository", "image: {repository: 'latchauth/latch:dev', tag: dev, pullPolicy: IfNotPresent}\n",
			"at '/image/repository': 'latchauth/latch:dev' does not match pattern"},
		{"malformed digest", "image: {repository: latchauth/latch, tag: dev, digest: sha256:abc, pullPolicy: IfNotPresent}\n",
			"at '/image/digest': 'sha256:abc' does not match pattern"},
		{"pull secret without a name", "imagePullSecrets: [{secret: regcred}]\n", "at '/imagePullSecrets/0': missing property 'name'"},
		{"no ServiceAccount to run as", "serviceAccount: {create: false}\n", "at '/serviceAccount/name': minLength: got 0, want 1"},
		// The manager refuses a non-positive period at start-up; refuse it before that.
		{"zero resync period", "clientResyncPeriod: 0s\n", "at '/clientResyncPeriod': '0s' does not match pattern"},
		{"no client workers", "clientWorkers: 0\n", "at '/clientWorkers': minimum: got 0, want 1"},
		{"no realm workers", "realmWorkers: 0\n", "at '/realmWorkers': minimum: got 0, want 1"},
		{"unknown log level", "logLevel: verbose\n", "at '/logLevel': value must be one of 'debug', 'info', 'error'"},
		{"misspelt resources key", "resources: {limit: {memory: 1Gi}}\n", "at '/resources': additional properties 'limit' not allowed"},
		{"malformed quantity", "resources: {limits: {memory: lots}}\n", "at '/resources/limits/memory': 'lots' does not match pattern"},
		{"metrics.secure as a string", "metrics: {secure: \"true\"}\n", "at '/metrics/secure': got string, want boolean"},
		{"ServiceMonitor without the Service it scrapes", "metrics: {service: {enabled: false}, serviceMonitor: {enabled: true}}\n",
			"at '/metrics/service/enabled': value must be true"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := helm("template", releaseName, chartDir, "--namespace", releaseNamespace, "--values", valuesFile(t, tc.values))
			if err == nil {
				t.Fatalf("helm template accepted %q", tc.values)
			}
			if !strings.Contains(out, "values don't meet the specifications of the schema") || !strings.Contains(out, tc.want) {
				t.Errorf("helm template refused %q with\n%s\nwant a schema error containing %q", tc.values, out, tc.want)
			}
		})
	}
}

// clusterScoped lists the cluster-scoped resources among the manager's rules: the chart's
// rbac.yaml must bind exactly these cluster-wide. TestInstall checks this list against the
// API server's own discovery.
var clusterScoped = map[string]bool{"namespaces": true}

// checkEveryRender checks what must hold whatever the values: objects decode strictly into
// their types; the Deployment is hardened, elects a leader and its probes and ports agree
// with its flags; the RBAC is exactly the generated rules, bound to the operator's account.
func checkEveryRender(t *testing.T, m manifest) {
	t.Helper()
	for _, u := range m.objects {
		gvk := u.GroupVersionKind()
		if !scheme.Recognizes(gvk) {
			if gvk.Kind != "ServiceMonitor" && gvk.Kind != "PrometheusRule" {
				t.Errorf("unexpected kind %s rendered (%s)", gvk, u.GetName())
			}
			continue
		}
		if err := decodeStrict(u); err != nil {
			t.Errorf("%s %s/%s does not decode strictly: %v", gvk.Kind, u.GetNamespace(), u.GetName(), err)
		}
		if u.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" && gvk.Kind != "CustomResourceDefinition" {
			t.Errorf("%s %s lacks the chart's labels: %v", gvk.Kind, u.GetName(), u.GetLabels())
		}
		cluster := gvk.Kind == "ClusterRole" || gvk.Kind == "ClusterRoleBinding" || gvk.Kind == "CustomResourceDefinition"
		switch {
		case cluster && u.GetNamespace() != "":
			t.Errorf("cluster-scoped %s %s has namespace %q", gvk.Kind, u.GetName(), u.GetNamespace())
		case !cluster && gvk.Kind != "RoleBinding" && u.GetNamespace() != releaseNamespace:
			t.Errorf("%s %s is in namespace %q, want the release namespace", gvk.Kind, u.GetName(), u.GetNamespace())
		}
	}

	d := deployment(t, m)
	spec := d.Spec.Template.Spec
	checkHardened(t, spec)
	sa := spec.ServiceAccountName
	if sa == "" {
		t.Errorf("Deployment has no serviceAccountName")
	}
	if spec.AutomountServiceAccountToken == nil || !*spec.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken = %v, want true: the operator needs its token", spec.AutomountServiceAccountToken)
	}
	if !selectorMatches(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("selector %v does not select the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}

	c := spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "manager" {
		t.Errorf("args = %v, want the manager subcommand first", c.Args)
	}
	if !slices.Contains(c.Args, "--leader-elect") {
		t.Errorf("args = %v, want --leader-elect", c.Args)
	}
	if got := flagValues(c.Args, "--leader-election-namespace"); !slices.Equal(got, []string{releaseNamespace}) {
		t.Errorf("--leader-election-namespace = %v, want %s (where the Role grants the Lease)", got, releaseNamespace)
	}
	if got := flagValues(c.Args, "--server-image"); !slices.Equal(got, []string{c.Image}) {
		t.Errorf("--server-image = %v, want the operator's own image %s", got, c.Image)
	}
	// Probes reach the port the manager serves them on, and the metrics Service the port the
	// manager serves metrics on.
	probePort := containerPort(t, c, "probes")
	if got := flagValues(c.Args, "--health-probe-bind-address"); !slices.Equal(got, []string{fmt.Sprintf(":%d", probePort)}) {
		t.Errorf("--health-probe-bind-address = %v, want :%d (the port named probes)", got, probePort)
	}
	for _, p := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.LivenessProbe, "/healthz"}, {c.ReadinessProbe, "/readyz"}} {
		probe, path := p.probe, p.path
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("missing %s probe", path)
			continue
		}
		if probe.HTTPGet.Path != path || probe.HTTPGet.Port != intstr.FromString("probes") {
			t.Errorf("probe = %s on %s, want %s on port probes", probe.HTTPGet.Path, probe.HTTPGet.Port.String(), path)
		}
	}
	// The operator learns its own namespace from the downward API: the managed Redis's
	// NetworkPolicy admits it by that namespace and its label.
	podNamespace := false
	for _, e := range c.Env {
		if e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			podNamespace = true
		}
	}
	if !podNamespace {
		t.Errorf("env = %v, want POD_NAMESPACE from the downward API (metadata.namespace)", c.Env)
	}
	checkMetricsRBAC(t, m, sa, !slices.Contains(c.Args, "--metrics-secure=false"))
	metricsPort := containerPort(t, c, "metrics")
	if got := flagValues(c.Args, "--metrics-bind-address"); !slices.Equal(got, []string{fmt.Sprintf(":%d", metricsPort)}) {
		t.Errorf("--metrics-bind-address = %v, want :%d (the port named metrics)", got, metricsPort)
	}
	if m.find("Service", releaseNamespace, fullname+"-metrics") != nil {
		svc := get[corev1.Service](t, m, "Service", releaseNamespace, fullname+"-metrics")
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != intstr.FromString("metrics") {
			t.Errorf("metrics Service ports = %+v, want one targeting the port named metrics", svc.Spec.Ports)
		}
		if !maps.Equal(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
			t.Errorf("metrics Service selects %v, want the Deployment's pods %v", svc.Spec.Selector, d.Spec.Selector.MatchLabels)
		}
	}
	if m.find("ServiceAccount", releaseNamespace, sa) == nil && len(m.all("ServiceAccount")) != 0 {
		t.Errorf("Deployment runs as %s but the chart renders %v", sa, m.names("ServiceAccount"))
	}

	// RBAC: the ClusterRoles hold exactly the generated rules, every binding binds the
	// operator's account to a role the chart renders, and leader election gets one Lease.
	var rules []rbacv1.PolicyRule
	for _, u := range m.all("ClusterRole") {
		if metricsRoles[u.GetName()] {
			continue // checkMetricsRBAC
		}
		rules = append(rules, get[rbacv1.ClusterRole](t, m, "ClusterRole", "", u.GetName()).Rules...)
	}
	if got, want := ruleSet(rules), ruleSet(generatedRules(t)); !slices.Equal(got, want) {
		t.Errorf("ClusterRole rules differ from config/rbac/role.yaml:\n got %v\nwant %v", got, want)
	}
	// Rules on cluster-scoped resources take effect only through a ClusterRoleBinding.
	clusterWide := map[string]bool{}
	for _, u := range m.all("ClusterRoleBinding") {
		crb := get[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", "", u.GetName())
		if m.find("ClusterRole", "", crb.RoleRef.Name) == nil {
			continue // reported below
		}
		for _, rule := range get[rbacv1.ClusterRole](t, m, "ClusterRole", "", crb.RoleRef.Name).Rules {
			for _, r := range rule.Resources {
				clusterWide[r] = true
			}
		}
	}
	for _, rule := range generatedRules(t) {
		for _, r := range rule.Resources {
			if clusterScoped[strings.Split(r, "/")[0]] && !clusterWide[r] {
				t.Errorf("cluster-scoped %s is not granted by any ClusterRoleBinding: a RoleBinding cannot grant it", r)
			}
		}
	}

	wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: releaseNamespace}}
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, u := range m.all(kind) {
			var subjects []rbacv1.Subject
			var ref rbacv1.RoleRef
			if kind == "ClusterRoleBinding" {
				b := get[rbacv1.ClusterRoleBinding](t, m, kind, "", u.GetName())
				subjects, ref = b.Subjects, b.RoleRef
			} else {
				b := get[rbacv1.RoleBinding](t, m, kind, u.GetNamespace(), u.GetName())
				subjects, ref = b.Subjects, b.RoleRef
			}
			if !equality.Semantic.DeepEqual(subjects, wantSubjects) {
				t.Errorf("%s %s/%s subjects = %v, want %v", kind, u.GetNamespace(), u.GetName(), subjects, wantSubjects)
			}
			roleNS := ""
			if ref.Kind == "Role" {
				roleNS = u.GetNamespace()
			}
			if m.find(ref.Kind, roleNS, ref.Name) == nil {
				t.Errorf("%s %s/%s refers to %s %s, which the chart does not render", kind, u.GetNamespace(), u.GetName(), ref.Kind, ref.Name)
			}
		}
	}
	le := get[rbacv1.Role](t, m, "Role", releaseNamespace, fullname+"-leader-election")
	wantLE := []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{leaderElectionID}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if got, want := ruleSet(le.Rules), ruleSet(wantLE); !slices.Equal(got, want) {
		t.Errorf("leader-election rules = %v, want %v", got, want)
	}
}

// metricsRoles are the chart's ClusterRoles for the authenticated metrics endpoint, beside
// the generated manager rules: the manager's right to review tokens and access, and the role a
// scraper is bound to.
var metricsRoles = map[string]bool{fullname + "-metrics-auth": true, releaseName + "-metrics-reader": true}

// checkMetricsRBAC checks the RBAC of an authenticated metrics endpoint: the manager may ask
// the API server who a caller is and whether it may get /metrics (TokenReview,
// SubjectAccessReview), and a scraper bound to <release>-metrics-reader may. Without
// authentication neither is rendered.
func checkMetricsRBAC(t *testing.T, m manifest, sa string, secure bool) {
	t.Helper()
	if !secure {
		for name := range metricsRoles {
			if m.find("ClusterRole", "", name) != nil {
				t.Errorf("metrics are not authenticated, but ClusterRole %s is rendered", name)
			}
		}
		return
	}
	auth := m.find("ClusterRole", "", fullname+"-metrics-auth")
	reader := m.find("ClusterRole", "", releaseName+"-metrics-reader")
	if auth == nil || reader == nil {
		t.Errorf("metrics are authenticated, but ClusterRoles are %v", m.names("ClusterRole"))
		return
	}
	wantAuth := []rbacv1.PolicyRule{
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	}
	if got := get[rbacv1.ClusterRole](t, m, "ClusterRole", "", auth.GetName()).Rules; !slices.Equal(ruleSet(got), ruleSet(wantAuth)) {
		t.Errorf("ClusterRole %s rules = %v, want %v", auth.GetName(), ruleSet(got), ruleSet(wantAuth))
	}
	wantReader := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
	if got := get[rbacv1.ClusterRole](t, m, "ClusterRole", "", reader.GetName()).Rules; !equality.Semantic.DeepEqual(got, wantReader) {
		t.Errorf("ClusterRole %s rules = %+v, want get on /metrics only", reader.GetName(), got)
	}
	bound := false
	for _, u := range m.all("ClusterRoleBinding") {
		crb := get[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", "", u.GetName())
		if crb.RoleRef.Name == auth.GetName() {
			bound = equality.Semantic.DeepEqual(crb.Subjects, []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: releaseNamespace}})
		}
		if crb.RoleRef.Name == reader.GetName() {
			t.Errorf("ClusterRoleBinding %s grants the metrics to %v: binding a scraper is the user's choice", crb.Name, crb.Subjects)
		}
	}
	if !bound {
		t.Errorf("no ClusterRoleBinding binds %s to the operator's ServiceAccount", auth.GetName())
	}
	if m.find("Service", releaseNamespace, fullname+"-metrics") != nil {
		svc := get[corev1.Service](t, m, "Service", releaseNamespace, fullname+"-metrics")
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "https" {
			t.Errorf("metrics Service ports = %+v, want one named https", svc.Spec.Ports)
		}
	}
}

// checkHardened checks the pod runs as the image's non-root user with nothing extra: no
// privilege escalation, no capabilities, a read-only root, the default seccomp profile and
// nothing shared with the node.
func checkHardened(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != nonRootUID ||
		psc.RunAsGroup == nil || *psc.RunAsGroup != nonRootUID || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v, want runAsNonRoot, runAsUser/Group %d, seccomp RuntimeDefault", psc, nonRootUID)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC || len(spec.Volumes) != 0 {
		t.Errorf("pod shares with the node or mounts volumes: hostNetwork=%v hostPID=%v hostIPC=%v volumes=%v",
			spec.HostNetwork, spec.HostPID, spec.HostIPC, spec.Volumes)
	}
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Fatalf("want exactly one container, got %d (+%d init)", len(spec.Containers), len(spec.InitContainers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		(sc.Privileged != nil && *sc.Privileged) || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("container securityContext = %+v, want no privilege escalation, read-only root, all capabilities dropped", sc)
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Errorf("no memory limit: %+v", c.Resources)
	}
}

// nonRootUID is the user the image runs as (USER in the Dockerfile; TestDockerfile checks).
const nonRootUID = 65532

// deployment returns the operator's Deployment.
func deployment(t *testing.T, m manifest) *appsv1.Deployment {
	t.Helper()
	return get[appsv1.Deployment](t, m, "Deployment", releaseNamespace, fullname)
}

// checkCRDsMatchConfig checks the chart renders the CRDs of config/crd/bases, unchanged but
// for the keep annotation, and returns them.
func checkCRDsMatchConfig(t *testing.T, m manifest) []*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no generated CRDs in config/crd/bases (%v)", err)
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		gen := readObject[apiextensionsv1.CustomResourceDefinition](t, f)
		crd := get[apiextensionsv1.CustomResourceDefinition](t, m, "CustomResourceDefinition", "", gen.Name)
		if !equality.Semantic.DeepEqual(crd.Spec, gen.Spec) {
			t.Errorf("CRD %s differs from %s: run `make manifests`", gen.Name, f)
		}
		out = append(out, crd)
	}
	if got := len(m.all("CustomResourceDefinition")); got != len(files) {
		t.Errorf("chart renders %d CRDs, config/crd/bases has %d", got, len(files))
	}
	return out
}

// generatedRules are the manager's rules as controller-gen writes them from the RBAC markers.
func generatedRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	return readObject[rbacv1.ClusterRole](t, filepath.Join(repoRoot, "config", "rbac", "role.yaml")).Rules
}

// readObject reads a one-object YAML file strictly into its Go type.
func readObject[T any, PT interface {
	*T
	runtime.Object
}](t *testing.T, path string) PT {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseManifest(string(data))
	if err != nil || len(m.objects) != 1 {
		t.Fatalf("%s: want one object, got %d (%v)", path, len(m.objects), err)
	}
	u := m.objects[0]
	return get[T, PT](t, m, u.GetKind(), u.GetNamespace(), u.GetName())
}

// ruleSet renders rules as sorted strings, so two rule lists compare as sets.
func ruleSet(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, fmt.Sprintf("groups=%v resources=%v names=%v verbs=%v", sorted(r.APIGroups), sorted(r.Resources), sorted(r.ResourceNames), sorted(r.Verbs)))
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// flagValues returns the values given to a --name=value flag, in order.
func flagValues(args []string, name string) []string {
	var out []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container has no port named %s: %v", name, c.Ports)
	return 0
}

func selectorMatches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// defaultImage is hack/IMAGE: the one default image name the chart, the operator's
// --server-image flag and the Makefile's IMG share.
func defaultImage(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "hack", "IMAGE"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}
