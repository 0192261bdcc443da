package wfgen

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestEndToEnd generates the application in testdata/e2e with the wfgen command, then
// builds, vets and tests it: its tests run workflows against PostgreSQL (this process's
// DATABASE_URL) through the generated functions only.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	mod := newTestModule(t, "example.com/e2e")
	files := map[string][]byte{}
	err := filepath.WalkDir("testdata/e2e", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel("testdata/e2e", path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	mod.write(t, files)

	if r := cli(mod.dir, "./..."); r.code != 0 {
		t.Fatalf("wfgen ./... exited %d:\n%s", r.code, r.stderr)
	}
	if r := cli(mod.dir, "check", "./..."); r.code != 0 {
		t.Fatalf("wfgen check ./... exited %d right after generating:\n%s", r.code, r.stderr)
	}
	mod.goCmd(t, "vet", "./...")
	t.Log(mod.goCmd(t, "test", "-count=1", "-v", "./..."))
}
