package kubectllatch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
)

// docsRole is the Role docs/operations.md's "kubectl latch" section tells operators to grant.
func docsRole(t *testing.T) *rbacv1.Role {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## kubectl latch\n")
	if !ok {
		t.Fatal(`docs/operations.md has no "## kubectl latch" section`)
	}
	_, block, ok := strings.Cut(section, "```yaml\n")
	if !ok {
		t.Fatal("the kubectl latch section has no yaml block")
	}
	block, _, _ = strings.Cut(block, "```")
	var role rbacv1.Role
	if err := yaml.UnmarshalStrict([]byte(block), &role); err != nil {
		t.Fatalf("the documented Role: %v", err)
	}
	return &role
}

// Access is exactly RBAC on pods/exec: the real exec step (no kubelet here, so it cannot run)
// is refused by the API server to a user without pods/exec, and passes authorization for one
// bound to the documented Role, failing only where a kubelet would take over.
func TestPodsExecIsTheGate(t *testing.T) {
	ns := newNamespace(t)
	createRealm(t, ns, "dev", 1, authv1.AuthRealmStatus{})
	createServerPod(t, ns, podSpec{name: "dev-1", realm: "dev", ready: true})

	role := docsRole(t)
	bind(t, ns, role, "ada@ops.example")
	kcAda := kubeconfig(t, addUser(t, "ada@ops.example"), "ada", ns, "envtest")
	// Grace may read everything the plugin reads, but not exec.
	reader := role.DeepCopy()
	reader.Name = "reader"
	reader.Rules = nil
	for _, r := range role.Rules {
		if !strings.Contains(strings.Join(r.Resources, ","), "/exec") {
			reader.Rules = append(reader.Rules, r)
		}
	}
	if len(reader.Rules) != len(role.Rules)-1 {
		t.Fatalf("the documented Role %+v has no separate pods/exec rule", role.Rules)
	}
	bind(t, ns, reader, "grace@ops.example")
	kcGrace := kubeconfig(t, addUser(t, "grace@ops.example"), "grace", ns, "envtest")

	res := run(t, nil, "--kubeconfig", kcGrace, "--realm", "dev", "users", "list")
	if res.code != 1 || !strings.Contains(res.stderr, `cannot create resource "pods/exec"`) {
		t.Errorf("without pods/exec: exit %d, stderr %q; want exit 1, pods/exec forbidden", res.code, res.stderr)
	}

	res = run(t, nil, "--kubeconfig", kcAda, "--realm", "dev", "users", "list")
	if res.code != 1 || !strings.Contains(res.stderr, "pod dev-1 does not have a host assigned") {
		t.Errorf("with the documented Role: exit %d, stderr %q; want authorized, then no host to run on", res.code, res.stderr)
	}

	// status needs only what the Role grants.
	if res := run(t, nil, "--kubeconfig", kcGrace, "status"); res.code != 0 || !strings.Contains(res.stdout, "dev") {
		t.Errorf("status as a reader: exit %d, %s%s", res.code, res.stdout, res.stderr)
	}
}
