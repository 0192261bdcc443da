package main

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wfdash"
)

// dashboardPrefix is where the API mounts wfgen's dashboard.
const dashboardPrefix = "/wfgen"

// dashboard returns the handler mounted under /wfgen/: wfgen's dashboard of the client's
// workflows, queues, executors and schedules. Anyone may read it (this is a demo; an
// application behind its own login would pass wfdash.Options.Authorize instead); cancel,
// resume and fork need the token. Without a token, the API makes one up and prints it.
func dashboard(c *wf.Client, token string) (http.Handler, error) {
	if token == "" {
		token = rand.Text()
		fmt.Fprintf(os.Stderr, "api: the dashboard's token (to cancel, resume or fork) is %s; choose one with -dashboard-token or $WFGEN_DASHBOARD_TOKEN\n", token)
	}
	return wfdash.New(c, wfdash.Options{Token: token, PublicReads: true, Prefix: dashboardPrefix})
}
