package wfgen

import (
	"os"
	"testing"

	"github.com/wfgen/wfgen/runtime/wftest"
)

// asCLIEnv, when set, makes this test binary the wfgen command itself (Run with its
// arguments), so that tests can run it as a process of its own and signal it.
const asCLIEnv = "WFGEN_TEST_AS_CLI"

// TestMain provides a PostgreSQL (DATABASE_URL, or a throwaway cluster) for the tests
// that run generated code or migrations against one.
func TestMain(m *testing.M) {
	if os.Getenv(asCLIEnv) != "" {
		os.Exit(Run(os.Args[1:], os.Stdout, os.Stderr))
	}
	wftest.Main(m)
}
