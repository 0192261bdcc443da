package wfgen

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/wfgen/wfgen/internal/testflags"
	"github.com/wfgen/wfgen/internal/wfgen/diag"
)

// TestGolden runs the cases in testdata/golden. Each is a txtar archive: its comment says
// what the case pins down; its files are the input packages, except those under want/,
// which are the expected outcome of generating ./... : want/<dir>/wf_gen.go for each file
// written, want/removed listing the files removed, or want/errors with the expected
// diagnostics. Every case that generates code is also built and vetted, so that no golden
// file can hold code that does not compile.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	mod := newTestModule(t, "example.com/golden")
	var (
		mu    sync.Mutex
		built []string
	)
	t.Run("case", func(t *testing.T) {
		for _, file := range files {
			name := strings.TrimSuffix(filepath.Base(file), ".txtar")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if runGoldenCase(t, mod, file, name) {
					mu.Lock()
					built = append(built, "./"+name+"/...")
					mu.Unlock()
				}
			})
		}
	})
	if len(built) == 0 || t.Failed() {
		return
	}
	slices.Sort(built)
	mod.goCmd(t, append([]string{"build"}, built...)...)
	mod.goCmd(t, append([]string{"vet"}, built...)...)
}

// runGoldenCase generates the case in its own directory of mod and compares the outcome
// with the expected one. It reports whether the case generated code, which the caller
// builds.
func runGoldenCase(t *testing.T, mod *testModule, file, name string) bool {
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	inputs := map[string][]byte{}
	for _, f := range ar.Files {
		if rest, ok := strings.CutPrefix(f.Name, "want/"); ok {
			want[rest] = f.Data
		} else {
			inputs[name+"/"+f.Name] = f.Data
		}
	}
	mod.write(t, inputs)
	dir := filepath.Join(mod.dir, name)

	res, err := Generate(Config{Dir: dir, Env: mod.env, Patterns: []string{"./..."}})
	got := map[string][]byte{}
	var diags *diag.Error
	switch {
	case errors.As(err, &diags):
		var b bytes.Buffer
		diags.Print(&b, dir)
		got["errors"] = b.Bytes()
	case err != nil:
		t.Fatalf("Generate: %v", err)
	default:
		var removed bytes.Buffer
		for _, f := range res.Files {
			rel := filepath.ToSlash(diag.RelPath(f.Path, dir))
			if f.Content == nil {
				removed.WriteString(rel + "\n")
				continue
			}
			got[rel] = f.Content
		}
		if removed.Len() > 0 {
			got["removed"] = removed.Bytes()
		}
	}

	if *testflags.Update {
		var files []txtar.File
		for _, f := range ar.Files {
			if !strings.HasPrefix(f.Name, "want/") {
				files = append(files, f)
			}
		}
		names := make([]string, 0, len(got))
		for n := range got {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			files = append(files, txtar.File{Name: "want/" + n, Data: got[n]})
		}
		ar.Files = files
		if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		for n, data := range want {
			if g, ok := got[n]; !ok {
				t.Errorf("want/%s: expected, but not produced", n)
			} else if !bytes.Equal(g, data) {
				t.Errorf("want/%s differs (run go test ./... -update to accept the new output):\n%s", n, lineDiff(data, g))
			}
		}
		for n, data := range got {
			if _, ok := want[n]; !ok {
				t.Errorf("want/%s: produced, but not expected:\n%s", n, data)
			}
		}
	}
	if res == nil {
		return false
	}
	if _, err := Write(res.Files); err != nil {
		t.Fatal(err)
	}
	return true
}

// lineDiff shows the first lines where want and got differ, with some context.
func lineDiff(want, got []byte) string {
	w := strings.Split(string(want), "\n")
	g := strings.Split(string(got), "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	from := max(i-3, 0)
	var b strings.Builder
	for j := from; j < i; j++ {
		b.WriteString("  " + w[j] + "\n")
	}
	for j := i; j < min(i+8, len(w)); j++ {
		b.WriteString("- " + w[j] + "\n")
	}
	for j := i; j < min(i+8, len(g)); j++ {
		b.WriteString("+ " + g[j] + "\n")
	}
	return b.String()
}
