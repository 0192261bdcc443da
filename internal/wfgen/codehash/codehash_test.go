package codehash

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"strings"
	"testing"
)

// base is a workflow package as wfgen sees it: the generated step wrapper SaveStep does
// not exist yet. Context stands in for wf.Context.
const base = `package p

import (
	"context"
	"strings"
)

type Context interface{ context.Context }

const limit = 10

// Flow is the workflow.
func Flow(ctx Context, s string) (int, error) {
	n, err := SaveStep(ctx, strings.ToUpper(s)) // checkpointed
	if err != nil {
		return 0, err
	}
	return double(n) + limit, nil
}

func double(n int) int { return twice(n) }

func twice(n int) int { return n * 2 }

// Save is a step: Flow calls it through SaveStep.
func Save(ctx context.Context, s string) (int, error) { return len(s), nil }

func unrelated() string { return "x" }
`

// hashOf type-checks src and returns the hash of its workflow (Flow, or Renamed), with
// Save as a step registered under stepName.
func hashOf(t *testing.T, src, stepName string) string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}, Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: importer.Default(), Error: func(error) {}} // SaveStep is undefined
	pkg, _ := conf.Check("example.com/p", fset, []*ast.File{f}, info)
	save := pkg.Scope().Lookup("Save").(*types.Func)
	p := NewPackage(pkg, info, []*ast.File{f},
		func(fn *types.Func) bool { return fn == save },
		func(name string) (string, bool) {
			if name == "SaveStep" {
				return "step " + stepName + " " + Signature(save.Signature(), pkg), true
			}
			return "", false
		})
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && (fd.Name.Name == "Flow" || fd.Name.Name == "Renamed") {
			return p.Workflow(fd)
		}
	}
	t.Fatal("no Flow in source")
	return ""
}

func TestHashIgnoresWhatReplayDoesNotDependOn(t *testing.T) {
	t.Parallel()
	want := hashOf(t, base, "p.Save")
	if len(want) != Size {
		t.Fatalf("hash %q has %d digits, want %d", want, len(want), Size)
	}
	for _, tc := range []struct{ name, old, new string }{
		{"comments", "// checkpointed", "// a different comment"},
		{"doc comment", "// Flow is the workflow.", "// Flow does things."},
		{"layout", "return double(n) + limit, nil", "return double(n) +\n\t\tlimit,\n\t\tnil"},
		{"an unrelated function", `return "x"`, `return "y"`},
		{"a step's body", "return len(s), nil", "return len(s) + 1, nil"},
		{"a new function", "func unrelated()", "func added() {}\n\nfunc unrelated()"},
		{"the workflow's name", "func Flow(", "func Renamed("},
		{"parameter names of a step", "func Save(ctx context.Context, s string)", "func Save(c context.Context, str string)"},
	} {
		src := replace(t, base, tc.old, tc.new)
		if got := hashOf(t, src, "p.Save"); got != want {
			t.Errorf("changing %s changed the hash from %s to %s", tc.name, want, got)
		}
	}
}

func TestHashChangesWithWhatReplayDependsOn(t *testing.T) {
	t.Parallel()
	want := hashOf(t, base, "p.Save")
	for _, tc := range []struct{ name, old, new string }{
		{"the workflow's body", "return double(n) + limit, nil", "return double(n) + limit + 1, nil"},
		{"an operator", "double(n) + limit", "double(n) - limit"},
		{"a condition", "err != nil", "err == nil"},
		{"the workflow's signature", "s string) (int, error) {\n\tn, err", "s string) (int64, error) {\n\tn, err"},
		{"a helper's body", "func double(n int) int { return twice(n) }", "func double(n int) int { return twice(n) + 1 }"},
		{"a helper of a helper", "return n * 2", "return n * 3"},
		{"a constant's value", "const limit = 10", "const limit = 11"},
		{"another package's function", "strings.ToUpper", "strings.ToLower"},
		{"a step's output type", "func Save(ctx context.Context, s string) (int, error) { return len(s), nil }", "func Save(ctx context.Context, s string) (int64, error) { return 0, nil }"},
	} {
		src := replace(t, base, tc.old, tc.new)
		if got := hashOf(t, src, "p.Save"); got == want {
			t.Errorf("changing %s did not change the hash %s", tc.name, want)
		}
	}
	if got := hashOf(t, base, "p.Store"); got == want {
		t.Errorf("renaming the step (name=) did not change the hash %s", want)
	}
}

func replace(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q is not in the source", old)
	}
	return strings.Replace(s, old, new, 1)
}
