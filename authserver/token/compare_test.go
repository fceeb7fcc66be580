package token_test

import (
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// secretName matches the names of values that hold a secret or a keyed hash of one: a
// comparison of such a value with == (or slices.Contains, strings.Compare, bytes.Equal) takes
// time that depends on how many leading bytes match, which an attacker who can time the
// answer may use to find a stored value byte by byte.
var secretName = regexp.MustCompile(`(?i)(hash|hashes|secret|token|tok|refresh|nonce|mac|key|password|pw)$`)

// notSecretCompare lists the comparisons whose operands match secretName but hold nothing
// secret, as "file: expression", with why.
var notSecretCompare = map[string]string{
	"core/errors.go: target == ErrWeakPassword": "an error value, matched by errors.Is",
	"store/memory/clients.go: strings.Compare(a.Hash, b.Hash)": "orders stored device tokens for a " +
		"stable listing; no presented value takes part",
	"store/validate.go: r.NewRefreshHash == r.PresentedRefreshHash": "checks the caller's arguments " +
		"against each other (a new refresh hash must differ from the presented one); nothing stored",
}

// The attack: a variable-time comparison of a presented token (or its hash) with the stored
// one. Every such comparison in the server's Go code must go through token.Equal (or
// crypto/subtle, hmac.Equal). This scans the server's packages (not tests, nor the
// conformance suite and servertest, which compare test values) for ==, != and the standard
// library's variable-time comparisons whose operands are named like secrets or hashes.
func TestSecretsAreComparedInConstantTime(t *testing.T) {
	root := filepath.Join("..")
	fset := token.NewFileSet()
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch filepath.ToSlash(rel) {
			case "store/conformance", "servertest":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var a, b ast.Expr
			switch e := n.(type) {
			case *ast.BinaryExpr:
				if e.Op != token.EQL && e.Op != token.NEQ {
					return true
				}
				a, b = e.X, e.Y
			case *ast.CallExpr:
				if name := callName(e.Fun); (name == "slices.Contains" || name == "strings.Compare" ||
					name == "bytes.Equal" || name == "strings.EqualFold") && len(e.Args) == 2 {
					a, b = e.Args[0], e.Args[1]
				} else {
					return true
				}
			default:
				return true
			}
			if isTrivial(a) || isTrivial(b) || !(isSecret(a) || isSecret(b)) {
				return true
			}
			site := filepath.ToSlash(rel) + ": " + exprString(fset, n)
			if _, ok := notSecretCompare[site]; !ok {
				found = append(found, fset.Position(n.Pos()).String()+": "+exprString(fset, n))
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(found)
	for _, f := range found {
		t.Errorf("variable-time comparison of a secret or hash (use token.Equal): %s", f)
	}
}

func callName(e ast.Expr) string {
	if s, ok := e.(*ast.SelectorExpr); ok {
		if x, ok := s.X.(*ast.Ident); ok {
			return x.Name + "." + s.Sel.Name
		}
	}
	return ""
}

// isSecret reports whether e names a secret: an identifier or a field whose name matches.
func isSecret(e ast.Expr) bool {
	switch v := e.(type) {
	case *ast.Ident:
		return secretName.MatchString(v.Name)
	case *ast.SelectorExpr:
		return secretName.MatchString(v.Sel.Name)
	case *ast.IndexExpr:
		return isSecret(v.X)
	}
	return false
}

// isTrivial reports whether e is a constant, nil or a length: comparing with one reveals
// nothing but emptiness or length, which are public (every secret and hash has a fixed one).
func isTrivial(e ast.Expr) bool {
	switch v := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return v.Name == "nil" || v.Name == "true" || v.Name == "false"
	case *ast.CallExpr:
		return callName(v.Fun) == "" && exprIs(v.Fun, "len")
	}
	return false
}

func exprIs(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func exprString(fset *token.FileSet, n ast.Node) string {
	var b strings.Builder
	if err := printer.Fprint(&b, fset, n); err != nil {
		return "?"
	}
	return b.String()
}
