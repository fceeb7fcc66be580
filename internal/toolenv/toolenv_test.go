package toolenv

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
)

func TestParse(t *testing.T) {
	got := parse("ETCD=/c/etcd\nHELM=/c/helm/bin/helm\r\nKUBEBUILDER_ASSETS=/c/k8s\n\nnot a variable\nEMPTY=\n")
	want := map[string]string{"ETCD": "/c/etcd", "HELM": "/c/helm/bin/helm", "KUBEBUILDER_ASSETS": "/c/k8s", "EMPTY": ""}
	if !maps.Equal(got, want) {
		t.Errorf("parse = %v, want %v", got, want)
	}
}

// The real script, as a test outside make calls it: what it prints names tools that are there.
func TestFindFromTheScript(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HELM", "")
	helm, err := Find(root, os.Stderr, "HELM", "helm")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(helm); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("Find HELM = %q, not an executable: %v", helm, err)
	}
	t.Setenv("HELM", "/from/the/environment")
	if got, err := Find(root, os.Stderr, "HELM", "helm"); got != "/from/the/environment" || err != nil {
		t.Errorf("Find HELM with HELM set = %q, %v; want the environment's", got, err)
	}
	if _, err := Find(root, os.Stderr, "LATCH_NO_SUCH_TOOL"); err == nil {
		t.Error("Find of a variable the script does not print succeeded")
	}
}
