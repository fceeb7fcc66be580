package charttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/latchauth/latch/internal/toolenv"
	"sigs.k8s.io/yaml"
)

// promtoolBin finds the pinned promtool: $PROMTOOL under `make test`, else hack/tools.sh
// builds it (cached). A missing promtool fails the tests that need it: CI skips nothing.
var promtoolBin = sync.OnceValues(func() (string, error) {
	p, err := toolenv.Find(repoRoot, os.Stderr, "PROMTOOL", "promtool")
	if err == nil && !executable(p) {
		err = fmt.Errorf("no usable promtool at %q", p)
	}
	return p, err
})

func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	bin, err := promtoolBin()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ruleFile is the PrometheusRule's spec: a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// renderedRules renders the chart with the PrometheusRule on (more keys of prometheusRule in
// extra, indented) and writes its spec to dir/rules.yaml, the file promtool reads.
func renderedRules(t *testing.T, extra, dir string) ruleFile {
	t.Helper()
	m := render(t, "prometheusRule:\n  enabled: true\n"+extra)
	checkEveryRender(t, m)
	pr := m.find("PrometheusRule", releaseNamespace, fullname)
	if pr == nil {
		t.Fatalf("no PrometheusRule %s rendered", fullname)
	}
	if pr.GetAPIVersion() != "monitoring.coreos.com/v1" {
		t.Errorf("PrometheusRule apiVersion %s", pr.GetAPIVersion())
	}
	if pr.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" || (strings.Contains(extra, "release:") && pr.GetLabels()["release"] == "") {
		t.Errorf("PrometheusRule labels %v: want the chart's and prometheusRule.labels", pr.GetLabels())
	}
	if len(pr.Object) != 4 { // apiVersion, kind, metadata, spec
		t.Errorf("PrometheusRule has top-level keys beyond apiVersion, kind, metadata, spec: %v", pr.Object)
	}
	spec, err := yaml.Marshal(pr.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), spec, 0o600); err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(spec, &rf); err != nil {
		t.Fatalf("the PrometheusRule's spec is not a rule file this test knows: %v", err)
	}
	return rf
}

// TestPrometheusRules checks the rendered rules with promtool (syntax, templates), runs their
// unit tests (testdata/prometheus-rules-test.yaml: alerts fire on synthetic series, and stay
// quiet where they should), and checks every alert's metrics, labels and runbook.
func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	if len(render(t, "").all("PrometheusRule")) != 0 {
		t.Errorf("a PrometheusRule is rendered by default")
	}
	dir := t.TempDir()
	rf := renderedRules(t, "  labels: {release: kube-prometheus-stack}\n", dir)

	out, err := promtool(t, dir, "check", "rules", "rules.yaml")
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	unit, err := os.ReadFile(filepath.Join("testdata", "prometheus-rules-test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules-test.yaml"), unit, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := promtool(t, dir, "test", "rules", "rules-test.yaml"); err != nil || !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}

	idx, err := knownMetrics()
	if err != nil {
		t.Fatal(err)
	}
	runbooks := runbookAnchors(t)
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a rule without an alert name (recording rules are not expected)", g.Name)
				continue
			}
			alerts[r.Alert] = true
			for _, p := range idx.checkExpr(r.Expr) {
				t.Errorf("%s: %s", r.Alert, p)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: summary or description missing", r.Alert)
			}
			anchor := strings.ToLower(r.Alert)
			if want := "docs/operations.md#" + anchor; r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if !runbooks[anchor] {
				t.Errorf("%s: docs/operations.md has no runbook section ### %s", r.Alert, r.Alert)
			}
		}
	}
	for anchor := range runbooks {
		found := false
		for a := range alerts {
			found = found || strings.ToLower(a) == anchor
		}
		if !found {
			t.Errorf("docs/operations.md has a runbook #%s for no alert", anchor)
		}
	}
	if len(alerts) < 10 {
		t.Errorf("only %d alerts", len(alerts))
	}
}

// runbookAnchors are the alert runbook sections of docs/operations.md: level-3 headings named
// like an alert (Latch...), as the anchors a Markdown renderer gives them.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^### (Latch[A-Za-z0-9]+)\s*$`).FindAllStringSubmatch(string(doc), -1) {
		out[strings.ToLower(m[1])] = true
	}
	return out
}

// TestPrometheusRulesRunbookBase checks the configurable runbook base reaches every alert.
func TestPrometheusRulesRunbookBase(t *testing.T) {
	t.Parallel()
	rf := renderedRules(t, "  runbookBaseURL: https://docs.example.com/latch/operations\n", t.TempDir())
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if want := "https://docs.example.com/latch/operations#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
		}
	}
}

// TestPromtoolFailsBadRules proves promtool is really consulted: a rule with a syntax error
// and a unit test whose alert cannot fire both fail.
func TestPromtoolFailsBadRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := "groups:\n- name: bad\n  rules:\n  - alert: Broken\n    expr: sum by (job) (rate(latch_store_up[5m])\n"
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := promtool(t, dir, "check", "rules", "rules.yaml"); err == nil {
		t.Errorf("promtool check rules accepted an unbalanced expression:\n%s", out)
	}
	quiet := "groups:\n- name: quiet\n  rules:\n  - alert: Never\n    expr: latch_store_up > 1\n"
	test := `rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: latch_store_up{job="a"}
        values: "1x5"
    alert_rule_test:
      - eval_time: 5m
        alertname: Never
        exp_alerts: [{exp_labels: {job: a}}]
`
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(quiet), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "test.yaml"), []byte(test), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := promtool(t, dir, "test", "rules", "test.yaml"); err == nil {
		t.Errorf("promtool test rules passed an alert that cannot fire:\n%s", out)
	}
}

// TestSchemaRefusesBadMonitoringValues checks the schema's refusals for the monitoring values.
func TestSchemaRefusesBadMonitoringValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ values, want string }{
		{"prometheusRule: {enabled: true, runbookBaseURL: 'https://x/ops.md#top'}\n", "at '/prometheusRule/runbookBaseURL'"},
		{"prometheusRule: {enable: true}\n", "additional properties 'enable' not allowed"},
		{"grafana: {dashboard: {enabled: true, labelValue: 1}}\n", "at '/grafana/dashboard/labelValue': got number, want string"},
		{"grafana: {dashboard: {label: 'grafana dashboard'}}\n", "at '/grafana/dashboard/label'"},
	} {
		out, err := helm("template", releaseName, chartDir, "--namespace", releaseNamespace, "--values", valuesFile(t, tc.values))
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("helm template with %q: %v\n%s\nwant a schema error containing %q", tc.values, err, out, tc.want)
		}
	}
}

// TestLintMonitoring runs helm lint in strict mode with the dashboard and the alerts on.
func TestLintMonitoring(t *testing.T) {
	t.Parallel()
	values := "prometheusRule: {enabled: true, labels: {release: kube-prometheus-stack}}\ngrafana: {dashboard: {enabled: true}}\n"
	out := mustHelm(t, "lint", "--strict", chartDir, "--namespace", releaseNamespace, "--values", valuesFile(t, values))
	if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
		t.Errorf("helm lint:\n%s", out)
	}
}
