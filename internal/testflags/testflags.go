// Package testflags defines the flags every test binary of this module accepts.
//
// `go test ./... -update` passes -update to every test binary, and a binary that does not
// define a flag rejects it. So every package with tests imports this package (a test checks
// that), and the golden tests read Update.
package testflags

import "flag"

// Update makes golden tests rewrite their expected output instead of comparing with it.
var Update = flag.Bool("update", false, "rewrite the expected output of golden tests (internal/wfgen/testdata/golden) instead of comparing with it")
