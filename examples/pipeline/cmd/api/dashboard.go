package main

import (
	"net/http"

	"github.com/wfgen/wfgen/runtime/wf"
)

// dashboard returns the handler mounted under /wfgen/: wfgen's dashboard of the client's
// workflows, queues and executors. The dashboard package is not built yet: until it is, the
// handler answers 501.
func dashboard(c *wf.Client, token string) (http.Handler, error) {
	_, _ = c, token
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotImplemented, "dashboard not built yet")
	}), nil
}
