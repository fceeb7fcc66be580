package controllers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// TestSamplesApply applies every sample with the real kubectl: each must be accepted.
func TestSamplesApply(t *testing.T) {
	ns := newNamespace(t)
	files, err := filepath.Glob(filepath.Join("..", "config", "samples", "auth_*.yaml"))
	if err != nil || len(files) < 6 {
		t.Fatalf("want at least 6 samples, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, err := kubectl(t, "apply", "--server-side", "-n", ns, "-f", f)
			if err != nil {
				t.Fatalf("kubectl apply %s: %v\n%s", f, err, out)
			}
			if !strings.Contains(out, "serverside-applied") {
				t.Fatalf("kubectl apply %s did not apply: %s", f, out)
			}
		})
	}
}

// TestInvalidSpecsRefused applies each file of testdata/invalid with kubectl and expects the
// API server to refuse it with the message in the file's "# expect:" line.
func TestInvalidSpecsRefused(t *testing.T) {
	ns := newNamespace(t)
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid examples: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# expect: ")
			if !ok {
				t.Fatalf("%s: first line must be '# expect: <message>'", f)
			}
			out, err := kubectl(t, "apply", "-n", ns, "-f", f)
			if err == nil {
				t.Fatalf("kubectl apply %s was accepted; want refusal with %q\n%s", f, want, out)
			}
			if !strings.Contains(out, want) {
				t.Fatalf("kubectl apply %s refused, but without %q:\n%s", f, want, out)
			}
		})
	}
}

// TestImmutableFieldsRefused checks the transition rules: clientID and realmRef never change.
func TestImmutableFieldsRefused(t *testing.T) {
	ns := newNamespace(t)
	ctx := t.Context()
	dc := &authv1.DeviceClient{
		ObjectMeta: metav1.ObjectMeta{Name: "sensor", Namespace: ns},
		Spec:       authv1.DeviceClientSpec{RealmRef: authv1.RealmReference{Name: "r"}, ClientID: "sensor-1"},
	}
	if err := k8s.Create(ctx, dc); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		mutate func(*authv1.DeviceClient)
		want   string
	}{
		{"clientID change", func(d *authv1.DeviceClient) { d.Spec.ClientID = "sensor-2" }, "clientID is immutable"},
		{"clientID removal", func(d *authv1.DeviceClient) { d.Spec.ClientID = "" }, "clientID is immutable"},
		{"realmRef change", func(d *authv1.DeviceClient) { d.Spec.RealmRef.Name = "other" }, "realmRef is immutable"},
	}
	// The DeviceClient controller writes the object too (its finalizer, its status): an
	// update that loses that race is retried on the latest version.
	update := func(mutate func(*authv1.DeviceClient)) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur := &authv1.DeviceClient{}
			if err := k8s.Get(ctx, keyOf(dc), cur); err != nil {
				return err
			}
			mutate(cur)
			return k8s.Update(ctx, cur)
		})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := update(tc.mutate)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("update: got %v, want refusal with %q", err, tc.want)
			}
		})
	}
	// A change of a mutable field is still accepted.
	if err := update(func(d *authv1.DeviceClient) { d.Spec.Roles = []string{"telemetry"} }); err != nil {
		t.Fatalf("update of roles refused: %v", err)
	}
}

// TestCRDsInstalled checks the kinds, short names, subresources and printer columns as a
// user sees them through discovery and kubectl.
func TestCRDsInstalled(t *testing.T) {
	out, err := kubectl(t, "api-resources", "--api-group=auth.latch.dev", "-o", "wide")
	if err != nil {
		t.Fatalf("kubectl api-resources: %v\n%s", err, out)
	}
	for _, want := range []string{"authrealms", "realm", "deviceclients", "dc", "AuthRealm", "DeviceClient"} {
		if !strings.Contains(out, want) {
			t.Errorf("api-resources lacks %q:\n%s", want, out)
		}
	}
	ns := newNamespace(t)
	if out, err := kubectl(t, "apply", "-n", ns, "-f", filepath.Join("..", "config", "samples", "auth_v1alpha1_authrealm_minimal.yaml")); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	out, err = kubectl(t, "get", "realm", "-n", ns)
	if err != nil {
		t.Fatalf("kubectl get realm: %v\n%s", err, out)
	}
	for _, col := range []string{"READY", "REPLICAS", "ENDPOINT", "AGE"} {
		if !strings.Contains(out, col) {
			t.Errorf("kubectl get realm lacks column %s:\n%s", col, out)
		}
	}
	// The scale subresource lets kubectl scale (and an HPA) drive spec.replicas.
	if out, err := kubectl(t, "scale", "-n", ns, "realm/minimal", "--replicas=3"); err != nil {
		t.Fatalf("kubectl scale: %v\n%s", err, out)
	}
	r := &authv1.AuthRealm{}
	if err := k8s.Get(t.Context(), keyNS(ns, "minimal"), r); err != nil {
		t.Fatal(err)
	}
	if r.Spec.Replicas == nil || *r.Spec.Replicas != 3 {
		t.Fatalf("after kubectl scale, spec.replicas = %v, want 3", r.Spec.Replicas)
	}
	out, err = kubectl(t, "get", "dc", "-n", ns)
	if err != nil {
		t.Fatalf("kubectl get dc: %v\n%s", err, out)
	}
}
