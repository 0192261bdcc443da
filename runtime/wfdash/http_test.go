package wfdash_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wfdash"
	"github.com/wfgen/wfgen/runtime/wftest"
)

// request is one HTTP request to the dashboard, as a script or a browser would send it.
type request struct {
	method, path string
	form         url.Values
	bearer       string
	cookie       *http.Cookie
	header       map[string]string
}

// do sends req without following redirects, and returns the response and its body.
func (s *scene) do(t *testing.T, req request) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if req.form != nil {
		body = strings.NewReader(req.form.Encode())
	}
	r, err := http.NewRequestWithContext(s.ctx, req.method, s.base+req.path, body)
	require.NoError(t, err)
	if req.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if req.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+req.bearer)
	}
	if req.cookie != nil {
		r.AddCookie(req.cookie)
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func cancelForm(id string) url.Values { return url.Values{"id": {id}} }

func TestDashboardNewRefusesOptionsThatWouldLeaveWritesOpenOrCannotWork(t *testing.T) {
	t.Parallel()
	c := wftest.NewClient(t, wf.Config{})
	for _, tc := range []struct {
		name string
		opts wfdash.Options
		want string
	}{
		{"no authentication", wfdash.Options{PublicReads: true}, "neither a Token nor an Authorize"},
		{"short token", wfdash.Options{Token: "short"}, "use at least 16"},
		{"prefix with a trailing slash", wfdash.Options{Token: testToken, Prefix: "/wfgen/"}, "Options.Prefix"},
		{"relative prefix", wfdash.Options{Token: testToken, Prefix: "wfgen"}, "Options.Prefix"},
	} {
		_, err := wfdash.New(c, tc.opts)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
	_, err := wfdash.New(nil, wfdash.Options{Token: testToken})
	require.ErrorContains(t, err, "nil")
}

func TestDashboardRefusesRequestsWithoutTheTokenAndCancelsWithIt(t *testing.T) {
	t.Parallel()
	s := newScene(t, wfdash.Options{Token: testToken})

	// Reads: 401 with the sign-in form without credentials, 403 with a wrong token.
	resp, body := s.do(t, request{method: "GET", path: "/"})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, `name="token"`)
	require.NotContains(t, body, "orders", "no data leaks to an anonymous reader")
	require.Equal(t, `Bearer realm="wfgen dashboard"`, resp.Header.Get("WWW-Authenticate"))
	resp, _ = s.do(t, request{method: "GET", path: "/workflow?id=" + s.succeeded, bearer: "wrong-token-wrong-token"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, body = s.do(t, request{method: "GET", path: "/", bearer: testToken})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `data-queue="orders"`)

	// Every response carries the security headers.
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))

	// Writes: refused without credentials, with a wrong token, and cross-origin.
	resp, _ = s.do(t, request{method: "POST", path: "/workflow/cancel", form: cancelForm(s.blocked)})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = s.do(t, request{method: "POST", path: "/workflow/cancel", form: cancelForm(s.blocked), bearer: "wrong-token-wrong-token"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, body = s.do(t, request{method: "POST", path: "/workflow/cancel", form: cancelForm(s.blocked), bearer: testToken,
		header: map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, "Cross-origin request refused")
	require.Equal(t, wf.StateRunning, s.state(t, s.blocked), "a refused write changes nothing")

	// With the token it cancels.
	resp, _ = s.do(t, request{method: "POST", path: "/workflow/cancel", form: cancelForm(s.blocked), bearer: testToken})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/wfgen/workflow?done=cancel&id="+s.blocked, resp.Header.Get("Location"))
	require.Equal(t, wf.StateCancelled, s.state(t, s.blocked))

	// A write the workflow's state refuses says why.
	resp, body = s.do(t, request{method: "POST", path: "/workflow/resume", form: cancelForm(s.succeeded), bearer: testToken})
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, body, "Resume failed")
	require.Contains(t, body, "it is succeeded")
	resp, _ = s.do(t, request{method: "POST", path: "/workflow/cancel", form: cancelForm("no-such-workflow"), bearer: testToken})
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestDashboardSignInSetsASignedSessionCookie(t *testing.T) {
	t.Parallel()
	s := newScene(t, wfdash.Options{Token: testToken})

	resp, body := s.do(t, request{method: "POST", path: "/signin", form: url.Values{"token": {"not-the-token-at-all"}, "next": {"/wfgen/executors"}}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, "Wrong token")
	require.Empty(t, resp.Cookies())

	resp, _ = s.do(t, request{method: "POST", path: "/signin", form: url.Values{"token": {testToken}, "next": {"/wfgen/executors"}}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/wfgen/executors", resp.Header.Get("Location"))
	require.Len(t, resp.Cookies(), 1)
	session := resp.Cookies()[0]
	require.True(t, session.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, session.SameSite)
	require.Equal(t, "/wfgen/", session.Path)
	require.False(t, session.Secure, "plain HTTP")
	resp, _ = s.do(t, request{method: "POST", path: "/signin", form: url.Values{"token": {testToken}}, header: map[string]string{"X-Forwarded-Proto": "https"}})
	require.True(t, resp.Cookies()[0].Secure, "behind a TLS proxy")

	resp, body = s.do(t, request{method: "GET", path: "/executors", cookie: session})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "dash-executor")
	resp, _ = s.do(t, request{method: "POST", path: "/workflow/cancel", form: cancelForm(s.blocked), cookie: session})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, wf.StateCancelled, s.state(t, s.blocked))

	// A cookie whose expiry was changed, or signed by another token, is not a session.
	exp, sig, _ := strings.Cut(session.Value, ".")
	for _, forged := range []string{"9" + exp + "." + sig, exp + "." + strings.Repeat("A", len(sig)), "x"} {
		resp, _ = s.do(t, request{method: "GET", path: "/executors", cookie: &http.Cookie{Name: session.Name, Value: forged}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, forged)
	}

	// Signing in never sends the user to another site.
	resp, _ = s.do(t, request{method: "POST", path: "/signin", form: url.Values{"token": {testToken}, "next": {"//evil.example/wfgen/"}}})
	require.Equal(t, "/wfgen/", resp.Header.Get("Location"))
	resp, _ = s.do(t, request{method: "POST", path: "/signin", form: url.Values{"token": {testToken}, "next": {"https://evil.example/"}}})
	require.Equal(t, "/wfgen/", resp.Header.Get("Location"))

	resp, _ = s.do(t, request{method: "POST", path: "/signout", cookie: session})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Len(t, resp.Cookies(), 1)
	require.Negative(t, resp.Cookies()[0].MaxAge)
}

func TestDashboardSignInPageDoesNotRefreshItself(t *testing.T) {
	t.Parallel()
	s := newScene(t, wfdash.Options{Token: testToken, PublicReads: true, Refresh: 200 * time.Millisecond})
	_, body := s.do(t, request{method: "GET", path: "/executors"})
	require.Contains(t, body, `data-refresh-ms="200"`)
	require.Contains(t, body, `id="live"`)
	_, body = s.do(t, request{method: "GET", path: "/signin"})
	require.Contains(t, body, `data-refresh-ms="0"`, "refresh.js does nothing on it")
	require.NotContains(t, body, `id="live"`)
	resp, body := s.do(t, request{method: "POST", path: "/signin", form: url.Values{"token": {"wrong"}}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, `data-refresh-ms="0"`, "nor on the form shown again")
}

func TestDashboardWithPublicReadsServesEveryPageButRefusesAnonymousWrites(t *testing.T) {
	t.Parallel()
	s := newScene(t, wfdash.Options{Token: testToken, PublicReads: true})
	for path, want := range map[string]string{
		"/":                        `data-queue="orders"`,
		"/workflows":               `data-id="` + s.failed + `"`,
		"/workflow?id=" + s.failed: "card declined by the payment provider",
		"/executors":               "dash-executor",
		"/schedules":               `data-workflow="demo.Nightly"`,
		"/signin":                  `name="token"`,
		"/static/style.css":        ".state-succeeded",
		"/static/refresh.js":       "data-refresh-ms",
	} {
		resp, body := s.do(t, request{method: "GET", path: path})
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, body, want, path)
	}
	for _, action := range []string{"cancel", "resume", "fork"} {
		resp, body := s.do(t, request{method: "POST", path: "/workflow/" + action, form: url.Values{"id": {s.blocked}, "from_step": {"1"}}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, action)
		require.Contains(t, body, "writes need authentication", action)
	}
	require.Equal(t, wf.StateRunning, s.state(t, s.blocked))
	forks, err := s.client.ListWorkflows(s.ctx, wf.ListOptions{Workflow: "demo.Blocker"})
	require.NoError(t, err)
	require.Len(t, forks, 1, "the refused fork started nothing")
}

func TestDashboardAuthorizeLetsTheApplicationAuthenticate(t *testing.T) {
	t.Parallel()
	admin := func(r *http.Request) bool { return r.Header.Get("X-User") == "admin" }
	s := newScene(t, wfdash.Options{Authorize: admin})
	resp, body := s.do(t, request{method: "GET", path: "/"})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "uses your application's authentication")
	resp, _ = s.do(t, request{method: "POST", path: "/workflow/cancel", form: cancelForm(s.blocked), header: map[string]string{"X-User": "guest"}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = s.do(t, request{method: "POST", path: "/workflow/cancel", form: cancelForm(s.blocked), header: map[string]string{"X-User": "admin"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, wf.StateCancelled, s.state(t, s.blocked))
	// Without a Token there is no token to guess: the sign-in form refuses every one.
	resp, _ = s.do(t, request{method: "POST", path: "/signin", form: url.Values{"token": {""}}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestDashboardWorkflowsPageShowsFiftyAPageNewestFirst(t *testing.T) {
	t.Parallel()
	c := wftest.NewClient(t, wf.Config{}) // not started: the workflows stay enqueued
	w := wf.NewWorkflow("paged.Job", func(ctx wf.Context, n int) (int, error) { return n, nil })
	require.NoError(t, c.Register(w))
	s := &scene{ctx: t.Context(), client: c}
	dash, err := wfdash.New(c, wfdash.Options{Token: testToken})
	require.NoError(t, err)
	s.srv = httptest.NewServer(dash)
	t.Cleanup(s.srv.Close)
	s.base = s.srv.URL
	for i := range wfdash.PageSize + 5 {
		_, err := w.Enqueue(s.ctx, c, i, wf.WithID(fmt.Sprintf("job-%03d", i)))
		require.NoError(t, err)
	}
	rows := regexp.MustCompile(`<tr data-id="(job-\d+)">`)
	ids := func(body string) []string {
		var out []string
		for _, m := range rows.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}

	resp, body := s.do(t, request{method: "GET", path: "/workflows?name=paged.Job&state=enqueued", bearer: testToken})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	first := ids(body)
	require.Len(t, first, wfdash.PageSize)
	require.Equal(t, "job-054", first[0], "newest first")
	require.Contains(t, body, `href="/workflows?name=paged.Job&amp;page=2&amp;state=enqueued" rel="next"`)
	require.NotContains(t, body, `rel="prev"`)

	resp, body = s.do(t, request{method: "GET", path: "/workflows?name=paged.Job&page=2&state=enqueued", bearer: testToken})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, []string{"job-004", "job-003", "job-002", "job-001", "job-000"}, ids(body))
	require.Contains(t, body, `rel="prev"`)
	require.NotContains(t, body, `rel="next"`)

	_, body = s.do(t, request{method: "GET", path: "/workflows?id=job-01", bearer: testToken})
	require.Len(t, ids(body), 10, "the ID prefix filter")
	_, body = s.do(t, request{method: "GET", path: "/workflows?state=failed", bearer: testToken})
	require.Empty(t, ids(body))
	require.Contains(t, body, "No workflow matches.")
}
