package wfgen

import (
	"testing"

	"github.com/wfgen/wfgen/runtime/wftest"
)

// TestMain provides a PostgreSQL (DATABASE_URL, or a throwaway cluster) for the tests
// that run generated code or migrations against one.
func TestMain(m *testing.M) { wftest.Main(m) }
