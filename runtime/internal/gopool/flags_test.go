package gopool

// `go test ./... -update` passes -update to every test binary: accept it.
import _ "github.com/wfgen/wfgen/internal/testflags"
