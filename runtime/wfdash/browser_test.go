package wfdash_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/internal/browsertest"
	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wfdash"
)

// browser is a headless Chromium on a scene's dashboard, used as a person uses it.
type browser struct {
	t   *testing.T
	ctx context.Context
	s   *scene
}

func newBrowser(t *testing.T, s *scene) *browser {
	return &browser{t: t, ctx: browsertest.New(t), s: s}
}

// open loads a page of the dashboard (path after the prefix) and waits for its content.
func (b *browser) open(path string) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, chromedp.Navigate(b.s.base+path), chromedp.WaitVisible(chromedp.CSS("main"))))
}

// text returns the visible text of the first element sel matches, waiting for it.
func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(b.t, err, sel)
	return strings.TrimSpace(s)
}

// liveText is text on a page that refreshes itself (Options.Refresh): it reads the element
// in one evaluation in the page, where text finds the node in one call and reads it in
// another, and a refresh in between has replaced it ("No node with given id found", or
// an empty text).
func (b *browser) liveText(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector(`+strconv.Quote(sel)+`).textContent.trim()`))
	require.NoError(b.t, err, sel)
	return s
}

// count returns how many elements sel matches now.
func (b *browser) count(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
	require.NoError(b.t, err, sel)
	return n
}

// click clicks sel and waits until the page that follows shows wait. The old page is
// marked first, so that only the new one matches, even when both show wait.
func (b *browser) click(sel, wait string) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx,
		chromedp.SetAttributeValue(chromedp.CSS("body"), "data-stale", "1"),
		chromedp.Click(chromedp.CSS(sel)),
		chromedp.WaitVisible(chromedp.CSS("body:not([data-stale]) "+wait))), "clicking %s", sel)
}

// signIn types the token into the sign-in form shown now and submits it.
func (b *browser) signIn(wait string) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), testToken)))
	b.click(`#signin button[type="submit"]`, wait)
}

// shot saves a screenshot of the whole page as name.png in $WFDASH_SHOTS, when set.
func (b *browser) shot(name string) {
	b.t.Helper()
	dir := os.Getenv("WFDASH_SHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	require.NoError(b.t, os.MkdirAll(dir, 0o755))
	require.NoError(b.t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

func TestDashboardPagesLoadInABrowserAndShowTheWorkflows(t *testing.T) {
	t.Parallel()
	s := newScene(t, wfdash.Options{Token: testToken, Refresh: -1})
	b := newBrowser(t, s)

	b.open("/")
	require.Contains(t, b.text("main"), "Sign in to see the dashboard")
	b.shot("signin")
	b.signIn("#queues")
	b.shot("queues")
	require.Equal(t, "2", b.text(`tr[data-queue="orders"] .finished5m`))
	require.Equal(t, "1", b.text(`tr[data-queue="orders"] .failed5m`))
	require.Equal(t, "1", b.text(`tr[data-queue="slow"] .running`))

	// The workflows page, filtered through its form.
	b.click(`a[href="/wfgen/workflows"]`, "#filters")
	for _, id := range []string{s.succeeded, s.failed, s.blocked, s.parent, s.child, s.tick} {
		require.Equal(t, 1, b.count(`#workflows tr[data-id="`+id+`"]`), id)
	}
	b.shot("workflows")
	require.NoError(t, chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`input[name="state"][value="failed"]`))))
	b.click(`#filters button[type="submit"]`, "#workflows")
	require.Equal(t, 1, b.count(`#workflows tbody tr`))
	require.Contains(t, b.text(`#workflows tr[data-id="order-declined"]`), "card declined by the payment provider")
	b.open("/workflows?queue=orders")
	require.Equal(t, 2, b.count(`#workflows tbody tr`))

	// One workflow: status, input, the failed step, events and streams.
	b.click(`#workflows a[href*="order-declined"]`, "#steps")
	b.shot("workflow-failed")
	require.Equal(t, "failed", b.text("#wf-state"))
	// The stylesheet loaded under the Content-Security-Policy: the state badge is red.
	color, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("#wf-state .state")).backgroundColor`))
	require.NoError(t, err)
	require.Equal(t, "rgb(198, 40, 40)", color)
	require.Contains(t, b.text("#error"), "card declined by the payment provider")
	require.Contains(t, b.text("#input"), `"item": "ink"`)
	require.Contains(t, b.text(`#steps`), "reserve")
	steps, err := s.client.Steps(s.ctx, s.failed)
	require.NoError(t, err)
	charge := steps[len(steps)-1]
	require.Equal(t, "charge", charge.Name)
	require.Contains(t, b.text(`#steps tr[data-step="`+strconv.Itoa(charge.ID)+`"]`), "card declined")
	require.Contains(t, b.text("#events"), "reserving")
	require.Contains(t, b.text("#streams"), "reserved")
	require.Equal(t, 1, b.count("#resume"))
	require.Zero(t, b.count("#cancel"), "a final workflow has nothing to cancel")

	b.open("/workflow?id=" + s.succeeded)
	require.Contains(t, b.text("#output"), `"charged": 300`)

	// A parent lists its child, and the child links back.
	b.open("/workflow?id=" + s.parent)
	b.shot("workflow-parent")
	b.click(`#children a`, "#parent")
	require.Equal(t, s.child, b.text("#wf-id"))
	require.Equal(t, s.parent, b.text("#parent"))

	b.open("/executors")
	b.shot("executors")
	require.Contains(t, b.text(`#executors tr[data-id="dash-executor"]`), "alive")
	b.click(`#executors tr[data-id="dash-executor"] a`, "#workflows")
	require.Equal(t, 1, b.count(`#workflows tbody tr`), "the executor runs one workflow")
	require.Equal(t, 1, b.count(`#workflows tr[data-id="`+s.blocked+`"]`))

	b.open("/schedules")
	b.shot("schedules")
	row := `#schedules tr[data-workflow="demo.Nightly"]`
	require.Contains(t, b.text(row+" .last"), "2026-12-01 03:00:00Z")
	require.Contains(t, b.text(row+" .last"), "succeeded")
	require.Contains(t, b.text(row+" .next"), "03:00:00Z")
	require.Contains(t, b.text(row), "0 3 * * *")
}

func TestDashboardCancelsResumesAndForksThroughTheBrowser(t *testing.T) {
	t.Parallel()
	s := newScene(t, wfdash.Options{Token: testToken, Refresh: -1})
	b := newBrowser(t, s)
	b.open("/signin")
	b.signIn("#queues")

	// Cancel the running workflow.
	b.open("/workflow?id=" + s.blocked)
	require.Equal(t, "running", b.text("#wf-state"))
	b.click("#cancel", ".notice")
	b.shot("workflow-cancelled")
	require.Equal(t, "Cancelled.", b.text(".notice"))
	require.Equal(t, wf.StateCancelled, s.state(t, s.blocked))
	require.Equal(t, "cancelled", b.text("#wf-state"))

	// Resume the failed order, now that its payment provider works: it succeeds.
	b.open("/workflow?id=" + s.failed)
	b.click("#resume", ".notice")
	require.Contains(t, b.text(".notice"), "Resumed")
	result, err := s.order.Get(s.client, s.failed).Result(s.ctx)
	require.NoError(t, err)
	require.Equal(t, receipt{Item: "ink", Charged: 450}, result)

	// Fork the succeeded order from its charge step: the fork replays the steps before it.
	steps, err := s.client.Steps(s.ctx, s.succeeded)
	require.NoError(t, err)
	from := 0
	for _, st := range steps {
		if st.Name == "charge" {
			from = st.ID
		}
	}
	require.Positive(t, from)
	b.open("/workflow?id=" + s.succeeded)
	require.NoError(t, chromedp.Do(b.ctx, chromedp.SetValue(chromedp.CSS("#fork-step"), strconv.Itoa(from))))
	b.click("#fork", ".notice")
	require.Equal(t, "Forked from workflow "+s.succeeded+" at step "+strconv.Itoa(from)+".", b.text(".notice"))
	forkID := b.text("#wf-id")
	require.NotEqual(t, s.succeeded, forkID)
	forked, err := s.order.Get(s.client, forkID).Result(s.ctx)
	require.NoError(t, err)
	require.Equal(t, receipt{Item: "pen", Charged: 300}, forked)
	forkSteps, err := s.client.Steps(s.ctx, forkID)
	require.NoError(t, err)
	require.Len(t, forkSteps, len(steps))
	for _, st := range forkSteps {
		if st.ID < from {
			require.Zero(t, st.Attempt, "step %d (%s) was copied, not run again", st.ID, st.Name)
		} else {
			require.Positive(t, st.Attempt, "step %d (%s) ran in the fork", st.ID, st.Name)
		}
	}
	b.open("/workflow?id=" + forkID)
	require.Equal(t, "succeeded", b.text("#wf-state"))
	b.shot("workflow-forked")
}

func TestDashboardRefusesAnAnonymousCancelInTheBrowser(t *testing.T) {
	t.Parallel()
	s := newScene(t, wfdash.Options{Token: testToken, PublicReads: true, Refresh: -1})
	b := newBrowser(t, s)

	b.open("/workflow?id=" + s.blocked)
	require.Contains(t, b.text("nav"), "read-only")
	b.click("#cancel", "#signin")
	require.Contains(t, b.text(".problem"), "writes need authentication")
	b.shot("write-refused")
	require.Equal(t, wf.StateRunning, s.state(t, s.blocked), "the anonymous cancel changed nothing")

	// Signing in from there leads back to the workflow, where the cancel works.
	b.signIn("#wf-state")
	require.Equal(t, s.blocked, b.text("#wf-id"))
	b.click("#cancel", ".notice")
	require.Equal(t, wf.StateCancelled, s.state(t, s.blocked))
}

func TestDashboardPagesRefreshThemselves(t *testing.T) {
	t.Parallel()
	s := newScene(t, wfdash.Options{Token: testToken, Refresh: 200 * time.Millisecond})
	b := newBrowser(t, s)
	b.open("/signin")
	b.signIn("#queues")
	b.open("/workflow?id=" + s.blocked)
	require.Equal(t, "running", b.liveText("#wf-state"))
	require.NoError(t, s.client.CancelWorkflow(s.ctx, s.blocked))
	// No navigation: the page's script fetches it again and shows the new state.
	_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`document.querySelector("#wf-state").textContent.trim() === "cancelled"`,
		chromedp.WithPollingTimeout(time.Minute)))
	require.NoError(t, err)
}
