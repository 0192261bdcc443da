// Package wfdash is wfgen's web dashboard: an http.Handler that shows the queues, workflows,
// executors and schedules of a wf.Client's database, and cancels, resumes and forks
// workflows. Its pages and assets are embedded in the Go module: there is nothing to build or
// deploy besides the application, and `wfgen dashboard` serves the same handler on its own.
//
// Mount it under a path prefix of an application's mux:
//
//	dash, err := wfdash.New(client, wfdash.Options{Prefix: "/wfgen", Token: os.Getenv("WFGEN_DASHBOARD_TOKEN")})
//	if err != nil {
//		return err
//	}
//	mux.Handle("/wfgen/", dash)
//
// # Pages
//
//   - Queues (the prefix's root): each queue's unfinished workflows by state (enqueued,
//     delayed, unrunnable, running) and its throughput: the workflows that ended in the last
//     minute and five minutes, and those of the five minutes that failed.
//   - Workflows: the newest workflows first, 50 a page, filtered by states, workflow name,
//     queue, ID prefix, parent and executor.
//   - Workflow: one workflow's status, input, output and error, its step timeline (each
//     step's output or error, attempt, tries and duration), its events, stream values and
//     received messages, its children, and the Cancel, Resume and Fork-from-step actions.
//     Steps record their outputs but not their inputs, so inputs are not shown.
//   - Executors: the executors that run or stopped within the hour, with their leases.
//   - Schedules: every schedule the executors registered, with its last and next tick.
//
// Pages refresh themselves every 5 seconds (Options.Refresh) with a small script served
// from the embedded assets, but for the sign-in page, which shows nothing that changes;
// with scripts disabled they are plain HTML.
//
// # Authentication
//
// Writes (cancel, resume, fork) always need authentication, and reads do too unless
// Options.PublicReads opens them deliberately. A request is authenticated when
// Options.Authorize returns true for it (the application's own authentication, such as the
// result of its session middleware), or when it carries Options.Token: as an
// "Authorization: Bearer <token>" header (for scripts), or as the signed session cookie that
// the dashboard's sign-in form sets after the token is typed in (HttpOnly,
// SameSite=Strict, valid for 12 hours, and Secure when the request came over TLS or
// through a proxy that sets X-Forwarded-Proto: https). New refuses Options with
// neither a Token nor an Authorize function: a dashboard that anyone can write through is
// never the default.
//
// A request without credentials is answered 401 (pages show the sign-in form); a request
// with a wrong bearer token 403. Every POST also goes through http.CrossOriginProtection,
// which refuses cross-origin browser requests (403), and every response carries a strict
// Content-Security-Policy (no inline scripts or styles) and X-Frame-Options: DENY.
package wfdash
