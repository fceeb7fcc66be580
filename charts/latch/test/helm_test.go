package charttest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// helmEnv isolates helm from the user's own helm configuration, repositories and kubeconfig:
// a test must not read them, and must not write next to them.
var helmEnv = sync.OnceValue(func() []string {
	home := filepath.Join(workDir, "helm")
	env := []string{
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "KUBECONFIG" || strings.HasPrefix(name, "HELM_") {
			continue
		}
		env = append(env, kv)
	}
	return env
})

// helm runs the pinned helm and returns its combined output.
func helm(args ...string) (string, error) {
	cmd := exec.Command(helmBin, args...)
	cmd.Env = helmEnv()
	cmd.Dir = repoRoot
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// mustHelm runs helm and fails the test when it fails.
func mustHelm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := helm(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// valuesFile writes a values file for one case; an empty document means the chart defaults.
func valuesFile(t *testing.T, values string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// manifest is the chart's rendered output, parsed.
type manifest struct {
	objects []*unstructured.Unstructured
}

// render runs helm template with the given values and parses the result.
func render(t *testing.T, values string) manifest {
	t.Helper()
	out, err := helm("template", releaseName, chartDir, "--namespace", releaseNamespace, "--values", valuesFile(t, values))
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseManifest(out)
	if err != nil {
		t.Fatalf("parse rendered chart: %v\n%s", err, out)
	}
	return m
}

// parseManifest splits a multi-document YAML stream into objects. It refuses duplicate keys,
// which Kubernetes would otherwise resolve silently by keeping the last one.
func parseManifest(stream string) (manifest, error) {
	var m manifest
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return m, err
		}
		var obj map[string]any
		if err := yaml.UnmarshalStrict(doc, &obj); err != nil {
			return m, fmt.Errorf("%w in document:\n%s", err, doc)
		}
		if len(obj) == 0 {
			continue // a document holding only comments
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			return m, fmt.Errorf("document without kind, apiVersion or name:\n%s", doc)
		}
		m.objects = append(m.objects, u)
	}
}

// all returns the objects of one kind.
func (m manifest) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range m.objects {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// find returns the object of one kind, namespace and name, or nil.
func (m manifest) find(kind, namespace, name string) *unstructured.Unstructured {
	for _, o := range m.all(kind) {
		if o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	return nil
}

// names lists "namespace/name" of every object of a kind, sorted, for messages and
// comparisons.
func (m manifest) names(kind string) []string {
	var out []string
	for _, o := range m.all(kind) {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	slices.Sort(out)
	return out
}

// get finds one object and converts it to its Go type; a field the type does not know fails
// the test, so a misspelt key in a template (readinesProbe) cannot pass unnoticed.
func get[T any, PT interface {
	*T
	runtime.Object
}](t *testing.T, m manifest, kind, namespace, name string) PT {
	t.Helper()
	u := m.find(kind, namespace, name)
	if u == nil {
		t.Fatalf("rendered chart has no %s %s/%s; it has %s", kind, namespace, name, m.names(kind))
	}
	out := PT(new(T))
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s/%s does not decode strictly: %v", kind, namespace, name, err)
	}
	return out
}

// decodeStrict converts an object of a kind the scheme knows into its Go type, failing on
// any field the type does not have.
func decodeStrict(u *unstructured.Unstructured) error {
	obj, err := scheme.New(u.GroupVersionKind())
	if err != nil {
		return err
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, obj, true)
}
