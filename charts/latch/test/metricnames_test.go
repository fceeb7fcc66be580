package charttest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The dashboard and the alerts may name only metrics the code registers, with labels the code
// gives them: a renamed metric must fail a test, not leave a panel empty or an alert silent
// for ever. knownMetrics reads the names from the Go sources themselves (go/ast), so the list
// cannot drift from them.

// metricDef is one registered metric: its labels, and whether it is a histogram (whose
// _bucket, _sum and _count series exist, the buckets with le).
type metricDef struct {
	labels    map[string]bool
	histogram bool
}

// targetLabels are added by the scrape, not by the code: Prometheus's job and instance, and
// what a Prometheus Operator ServiceMonitor adds.
var targetLabels = map[string]bool{"job": true, "instance": true, "namespace": true, "pod": true, "service": true, "endpoint": true, "container": true}

type metricIndex struct {
	metrics map[string]*metricDef
	// literals are the string literals of authserver/core, where the operation and outcome
	// label values are written.
	literals map[string]bool
}

// knownMetrics scans, once: Latch's own sources (the auth server's metrics and socket hub,
// the operator), controller-runtime's controller metrics, and client_golang's process
// collector, which the auth server registers.
var knownMetrics = sync.OnceValues(func() (*metricIndex, error) {
	idx := &metricIndex{metrics: map[string]*metricDef{}, literals: map[string]bool{}}
	dirs := []string{filepath.Join(repoRoot, "authserver"), filepath.Join(repoRoot, "controllers")}
	for _, mod := range []struct{ path, sub string }{
		{"sigs.k8s.io/controller-runtime", "pkg/internal/controller/metrics"},
		{"github.com/prometheus/client_golang", "prometheus/process_collector.go"},
	} {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod.path).Output()
		if err != nil {
			return nil, fmt.Errorf("go list -m %s: %w", mod.path, err)
		}
		dirs = append(dirs, filepath.Join(strings.TrimSpace(string(out)), mod.sub))
	}
	fset := token.NewFileSet()
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			idx.scan(f, strings.HasPrefix(path, filepath.Join(repoRoot, "authserver", "core")+string(filepath.Separator)))
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(idx.metrics) < 20 {
		return nil, fmt.Errorf("found only %d metrics in %v: the scanner no longer understands the code", len(idx.metrics), dirs)
	}
	return idx, nil
})

// scan records the metrics one file defines: prometheus.NewDesc(name, help, labels, ...) and
// the Name of a prometheus.{Counter,Gauge,Histogram,Summary}Opts literal, with the labels of
// the New*Vec call it is passed to.
func (idx *metricIndex) scan(f *ast.File, core bool) {
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BasicLit:
			if s, err := strconv.Unquote(n.Value); err == nil && core && n.Kind == token.STRING {
				idx.literals[s] = true
			}
		case *ast.CallExpr:
			switch callName(n) {
			case "NewDesc":
				if len(n.Args) >= 3 {
					if name := lastString(n.Args[0]); name != "" {
						idx.add(name, false, stringList(n.Args[2]))
					}
				}
			case "NewCounterVec", "NewGaugeVec", "NewHistogramVec", "NewSummaryVec":
				if len(n.Args) == 2 {
					if name, hist := optsName(n.Args[0]); name != "" {
						idx.add(name, hist, stringList(n.Args[1]))
					}
				}
			case "NewCounter", "NewGauge", "NewHistogram", "NewCounterFunc", "NewGaugeFunc":
				if len(n.Args) >= 1 {
					if name, hist := optsName(n.Args[0]); name != "" {
						idx.add(name, hist, nil)
					}
				}
			}
		}
		return true
	})
}

func (idx *metricIndex) add(name string, histogram bool, labels []string) {
	d := &metricDef{labels: map[string]bool{}, histogram: histogram}
	for _, l := range labels {
		d.labels[l] = true
	}
	idx.metrics[name] = d
}

func callName(c *ast.CallExpr) string {
	switch fn := c.Fun.(type) {
	case *ast.SelectorExpr:
		return fn.Sel.Name
	case *ast.Ident:
		return fn.Name
	}
	return ""
}

// lastString is a string literal, or the literal end of a concatenation (ns+"process_open_fds",
// with the empty namespace the auth server uses).
func lastString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.BasicLit:
		s, _ := strconv.Unquote(e.Value)
		return s
	case *ast.BinaryExpr:
		return lastString(e.Y)
	}
	return ""
}

func stringList(e ast.Expr) []string {
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, el := range cl.Elts {
		if s := lastString(el); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// optsName reads Name from a prometheus.*Opts literal (taken by value or address).
func optsName(e ast.Expr) (string, bool) {
	if u, ok := e.(*ast.UnaryExpr); ok {
		e = u.X
	}
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return "", false
	}
	sel, ok := cl.Type.(*ast.SelectorExpr)
	if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
		return "", false
	}
	for _, el := range cl.Elts {
		if kv, ok := el.(*ast.KeyValueExpr); ok {
			if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
				return lastString(kv.Value), sel.Sel.Name == "HistogramOpts"
			}
		}
	}
	return "", false
}

// lookup resolves a series name to its metric and the labels its series carry.
func (idx *metricIndex) lookup(series string) (map[string]bool, bool) {
	if d, ok := idx.metrics[series]; ok && !d.histogram {
		return d.labels, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(series, suffix)
		if d, found := idx.metrics[base]; ok && found && d.histogram {
			labels := d.labels
			if suffix == "_bucket" {
				labels = withLabel(labels, "le")
			}
			return labels, true
		}
	}
	return nil, false
}

func withLabel(m map[string]bool, l string) map[string]bool {
	out := map[string]bool{l: true}
	for k := range m {
		out[k] = true
	}
	return out
}

// promqlWords are PromQL's keywords, aggregations and the functions an expression may call
// without parentheses following at once (an aggregation's by clause comes first).
var promqlWords = map[string]bool{
	"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "bool": true, "offset": true,
	"sum": true, "min": true, "max": true, "avg": true, "count": true, "group": true, "stddev": true,
	"stdvar": true, "topk": true, "bottomk": true, "quantile": true, "count_values": true,
}

// groupingWords take a parenthesised list of label names.
var groupingWords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// checkExpr reports every metric in a PromQL expression the code does not register, every
// label it matches or groups on that its metrics do not carry, and every operation or outcome
// value the core never writes. It is a small lexer, not a parser: enough for the expressions
// of this chart, which promtool parses for real.
func (idx *metricIndex) checkExpr(expr string) []string {
	var problems []string
	toks := lexPromQL(expr)
	used := map[string]bool{} // labels of every metric in the expression
	var groupings []string
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		next := ""
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		switch {
		case tok == "[":
			for i < len(toks) && toks[i] != "]" {
				i++
			}
		case groupingWords[tok] && next == "(":
			for i += 2; i < len(toks) && toks[i] != ")"; i++ {
				if toks[i] != "," {
					groupings = append(groupings, toks[i])
				}
			}
		case !isIdent(tok) || promqlWords[tok] || next == "(":
			// punctuation, numbers, strings, keywords, functions
		default:
			labels, ok := idx.lookup(tok)
			if !ok {
				problems = append(problems, fmt.Sprintf("metric %s is not registered anywhere in the code", tok))
			}
			for l := range labels {
				used[l] = true
			}
			if next != "{" {
				continue
			}
			for i += 2; i < len(toks) && toks[i] != "}"; i++ {
				if toks[i] == "," {
					continue
				}
				// name, operator, "value"
				if i+2 >= len(toks) {
					problems = append(problems, "unterminated matcher in "+expr)
					break
				}
				label, value := toks[i], toks[i+2]
				i += 2
				if ok && !labels[label] && !targetLabels[label] {
					problems = append(problems, fmt.Sprintf("%s has no label %s (it has %v)", tok, label, slices.Sorted(maps.Keys(labels))))
				}
				if label == "operation" || label == "outcome" {
					v, _ := strconv.Unquote(value)
					for alt := range strings.SplitSeq(v, "|") {
						if !idx.literals[alt] {
							problems = append(problems, fmt.Sprintf("%s{%s=%q}: authserver/core never writes %q", tok, label, v, alt))
						}
					}
				}
			}
		}
	}
	for _, l := range groupings {
		if !used[l] && !targetLabels[l] {
			problems = append(problems, fmt.Sprintf("grouping on %s, a label none of the expression's metrics has", l))
		}
	}
	return problems
}

func isIdent(tok string) bool {
	c := tok[0]
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// lexPromQL splits an expression into identifiers, quoted strings, numbers and single
// punctuation characters or two-character operators.
func lexPromQL(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\n' || c == '\t':
			i++
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			toks = append(toks, s[i:min(j+1, len(s))])
			i = j + 1
		case isIdent(string(c)) || (c >= '0' && c <= '9') || c == '.' || c == '$':
			j := i
			for j < len(s) && (isIdent(string(s[j])) || (s[j] >= '0' && s[j] <= '9') || s[j] == '.' || s[j] == '$') {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		case i+1 < len(s) && slices.Contains([]string{"=~", "!~", "!=", "==", ">=", "<="}, s[i:i+2]):
			toks = append(toks, s[i:i+2])
			i += 2
		default:
			toks = append(toks, string(c))
			i++
		}
	}
	return toks
}

// TestMetricCheckerCatchesMistakes proves the checker fails what it should: a test that
// passes everything would let a renamed metric through.
func TestMetricCheckerCatchesMistakes(t *testing.T) {
	t.Parallel()
	idx, err := knownMetrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ expr, want string }{
		{`rate(latch_logins_total[5m])`, "metric latch_logins_total is not registered"},
		{`sum by (realm) (latch_store_up)`, "grouping on realm"},
		{`latch_store_errors_total{reason="x"}`, "latch_store_errors_total has no label reason"},
		{`latch_auth_operations_total{operation="signin"}`, `never writes "signin"`},
		{`latch_auth_operation_duration_seconds`, "metric latch_auth_operation_duration_seconds is not registered"},
		{`latch_store_up_bucket`, "metric latch_store_up_bucket is not registered"},
	} {
		got := strings.Join(idx.checkExpr(tc.expr), "\n")
		if !strings.Contains(got, tc.want) {
			t.Errorf("checkExpr(%s) = %q, want a problem containing %q", tc.expr, got, tc.want)
		}
	}
	good := `histogram_quantile(0.99, sum by (namespace, dialect, le) (rate(latch_auth_operation_duration_seconds_bucket{job=~"$job", operation="authenticate"}[$__rate_interval])))`
	if p := idx.checkExpr(good); len(p) != 0 {
		t.Errorf("checkExpr(%s) = %v, want no problem", good, p)
	}
	for _, name := range []string{"latch_socket_connections", "latch_store_up", "latch_revocation_last_message_age_seconds", "controller_runtime_reconcile_errors_total", "process_open_fds"} {
		if _, ok := idx.metrics[name]; !ok {
			t.Errorf("the scan missed %s", name)
		}
	}
}
