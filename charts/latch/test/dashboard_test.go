package charttest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// grafanaDashboard is what the test reads of the dashboard JSON.
type grafanaDashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name, Type string
			Query      any `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	ID         int                 `json:"id"`
	Type       string              `json:"type"`
	Title      string              `json:"title"`
	Datasource *grafanaDatasource  `json:"datasource"`
	GridPos    *struct{ H, W int } `json:"gridPos"`
	Targets    []struct {
		Datasource *grafanaDatasource `json:"datasource"`
		Expr       string             `json:"expr"`
		RefID      string             `json:"refId"`
	} `json:"targets"`
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// datasourceVar is the dashboard's data source variable: a dashboard that names a data
// source by its uid works only in the Grafana it was exported from.
const datasourceVar = "${datasource}"

// TestDashboard checks the dashboard the chart ships: valid JSON, every query on the
// datasource variable, and every metric and label it queries registered by the code.
func TestDashboard(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(chartDir, "files", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkDashboard(t, raw)
}

func checkDashboard(t *testing.T, raw []byte) {
	t.Helper()
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q: both are needed for provisioning", d.UID, d.Title)
	}
	dsVar := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			dsVar = true
		}
	}
	if !dsVar {
		t.Errorf("no templating variable datasource of type datasource (query prometheus)")
	}
	idx, err := knownMetrics()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q has no size", p.Title)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != datasourceVar {
			t.Errorf("panel %q: datasource %+v, want uid %s", p.Title, p.Datasource, datasourceVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			if q.Datasource == nil || q.Datasource.UID != datasourceVar {
				t.Errorf("panel %q query %s: datasource %+v, want uid %s", p.Title, q.RefID, q.Datasource, datasourceVar)
			}
			for _, problem := range idx.checkExpr(q.Expr) {
				t.Errorf("panel %q query %s: %s\n  %s", p.Title, q.RefID, problem, q.Expr)
			}
		}
	}
	if queries < 20 {
		t.Errorf("the dashboard has %d queries; the test read it wrong", queries)
	}
}

// TestDashboardConfigMap checks the chart ships the dashboard as the Grafana sidecar wants it
// only when asked, under the configured label, and byte for byte.
func TestDashboardConfigMap(t *testing.T) {
	t.Parallel()
	if cms := render(t, "").all("ConfigMap"); len(cms) != 0 {
		t.Errorf("ConfigMaps rendered by default: %d", len(cms))
	}
	m := render(t, "grafana: {dashboard: {enabled: true, labelValue: \"yes\", label: example.com/dashboard, annotations: {grafana_folder: Latch}}}\n")
	checkEveryRender(t, m)
	cm := get[corev1.ConfigMap](t, m, "ConfigMap", releaseNamespace, fullname+"-dashboard")
	if cm.Labels["example.com/dashboard"] != "yes" || cm.Annotations["grafana_folder"] != "Latch" {
		t.Errorf("ConfigMap labels %v, annotations %v", cm.Labels, cm.Annotations)
	}
	want, err := os.ReadFile(filepath.Join(chartDir, "files", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := cm.Data["latch.json"]
	if strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
		t.Errorf("the ConfigMap's latch.json differs from files/grafana-dashboard.json")
	}
	checkDashboard(t, []byte(got))
	defaults := render(t, "grafana: {dashboard: {enabled: true}}\n")
	if cm := get[corev1.ConfigMap](t, defaults, "ConfigMap", releaseNamespace, fullname+"-dashboard"); cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("default dashboard label: %v, want grafana_dashboard=1 (kube-prometheus-stack's sidecar default)", cm.Labels)
	}
}
