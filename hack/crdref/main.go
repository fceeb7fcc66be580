// Command crdref writes the Markdown reference of Latch's CRDs (docs/crd-reference.md) from
// the generated CRD manifests, so the README's field reference can never drift from the API:
// `make manifests` runs it and `make verify` fails on a stale copy.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: crdref CRD_DIR OUTPUT.md")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "crdref:", err)
		os.Exit(1)
	}
}

func run(dir, out string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in %s", dir)
	}
	sort.Strings(files)
	var b strings.Builder
	b.WriteString("# CRD reference\n\nGenerated from `config/crd/bases` by `make manifests` (hack/crdref); do not edit.\n")
	b.WriteString("Every field with its type, default and description; validation rules follow each kind.\n")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, v := range crd.Spec.Versions {
			fmt.Fprintf(&b, "\n## %s (`%s/%s`)\n\n", crd.Spec.Names.Kind, crd.Spec.Group, v.Name)
			if len(crd.Spec.Names.ShortNames) > 0 {
				fmt.Fprintf(&b, "Short names: `%s`. ", strings.Join(crd.Spec.Names.ShortNames, "`, `"))
			}
			fmt.Fprintf(&b, "Scope: %s.\n\n| field | type | default | description |\n|---|---|---|---|\n", crd.Spec.Scope)
			var rules []string
			root := v.Schema.OpenAPIV3Schema
			for _, top := range []string{"spec", "status"} {
				if p, ok := root.Properties[top]; ok {
					walk(&b, &rules, top, p)
				}
			}
			for _, r := range root.XValidations {
				rules = append(rules, fmt.Sprintf("- (object) %s", r.Message))
			}
			if len(rules) > 0 {
				b.WriteString("\nValidation (refused by the API server with these messages):\n\n")
				b.WriteString(strings.Join(rules, "\n"))
				b.WriteString("\n")
			}
		}
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

// walk writes one row per field, depth first in name order. Fields embedded from core
// Kubernetes types (a PodAffinity, a ResourceRequirements) stop at their own row: their
// reference is Kubernetes's.
func walk(b *strings.Builder, rules *[]string, path string, s apiextensionsv1.JSONSchemaProps) {
	typ := s.Type
	if s.Type == "array" && s.Items != nil && s.Items.Schema != nil {
		typ = "[]" + s.Items.Schema.Type
	}
	if len(s.Enum) > 0 {
		var vals []string
		for _, e := range s.Enum {
			vals = append(vals, strings.Trim(string(e.Raw), `"`))
		}
		typ += " (" + strings.Join(vals, ", ") + ")"
	}
	def := ""
	if s.Default != nil {
		def = "`" + string(s.Default.Raw) + "`"
	}
	fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", path, typ, def, cell(s.Description))
	for _, r := range s.XValidations {
		*rules = append(*rules, fmt.Sprintf("- `%s`: %s", path, r.Message))
	}
	if strings.HasPrefix(path, "status.conditions") || isCoreType(path) {
		return
	}
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		walk(b, rules, path+"."+n, s.Properties[n])
	}
	if s.Items != nil && s.Items.Schema != nil && len(s.Items.Schema.Properties) > 0 {
		walk(b, rules, path+"[]", *s.Items.Schema)
	}
}

// isCoreType names the fields whose schema is a core Kubernetes type.
func isCoreType(path string) bool {
	for _, suffix := range []string{"resources", "affinity", "tolerations", "topologySpreadConstraints",
		"env", "clientNamespaceSelector", "from", "metricsFrom", "imagePullSecrets", "minAvailable", "maxUnavailable"} {
		if strings.HasSuffix(path, "."+suffix) {
			return true
		}
	}
	return false
}

func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.TrimSpace(s)
}
