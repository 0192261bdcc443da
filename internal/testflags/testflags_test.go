package testflags_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Every package with tests must import testflags, or `go test ./... -update` fails there.
func TestEveryTestPackageAcceptsUpdate(t *testing.T) {
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}} {{if or .TestGoFiles .XTestGoFiles}}tests{{end}} {{join .TestImports ","}},{{join .XTestImports ","}}`,
		"github.com/wfgen/wfgen/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const self = "github.com/wfgen/wfgen/internal/testflags"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[1] != "tests" || fields[0] == self {
			continue
		}
		if !slices.Contains(strings.Split(fields[2], ","), self) {
			t.Errorf("%s has tests but does not import %s: add `import _ %q` to one of its test files, or `go test ./... -update` fails there", fields[0], self, self)
		}
	}
}
