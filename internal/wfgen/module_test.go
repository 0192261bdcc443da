package wfgen

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/modfile"
)

// testModule is a Go module in a temporary directory that depends on this repository
// (through a replace directive) with the repository's own requirements and go.sum, so that
// generated code builds there exactly as in a user's module, without network access.
type testModule struct {
	dir  string
	path string // module path
	env  []string
}

// repoRoot is the root of this repository.
var repoRoot = sync.OnceValue(func() string {
	root, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return root
})

// newTestModule creates an empty module named path.
func newTestModule(t testing.TB, path string) *testModule {
	t.Helper()
	dir := t.TempDir()
	repoMod, err := os.ReadFile(filepath.Join(repoRoot(), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := modfile.Parse("go.mod", repoMod, nil)
	if err != nil {
		t.Fatal(err)
	}
	mod := &modfile.File{}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(mod.AddModuleStmt(path))
	check(mod.AddGoStmt(repo.Go.Version))
	check(mod.AddRequire("github.com/wfgen/wfgen", "v0.0.0"))
	for _, r := range repo.Require {
		check(mod.AddRequire(r.Mod.Path, r.Mod.Version))
	}
	check(mod.AddReplace("github.com/wfgen/wfgen", "", repoRoot(), ""))
	out, err := mod.Format()
	check(err)
	check(os.WriteFile(filepath.Join(dir, "go.mod"), out, 0o644))
	sum, err := os.ReadFile(filepath.Join(repoRoot(), "go.sum"))
	check(err)
	check(os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))
	return &testModule{dir: dir, path: path, env: append(os.Environ(), "GOWORK=off")}
}

// write writes files (paths relative to the module root).
func (m *testModule) write(t testing.TB, files map[string][]byte) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(m.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// goCmd runs the go command in the module and fails the test with its output if it fails.
func (m *testModule) goCmd(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = m.dir
	cmd.Env = m.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// generate runs Generate on patterns in the module.
func (m *testModule) generate(patterns ...string) (*Result, error) {
	return Generate(Config{Dir: m.dir, Env: m.env, Patterns: patterns})
}
