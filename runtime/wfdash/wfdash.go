package wfdash

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/wfgen/wfgen/runtime/wf"
)

// MinTokenLength is the shortest Options.Token New accepts.
const MinTokenLength = 16

// DefaultRefresh is how often pages refresh themselves when Options.Refresh is zero.
const DefaultRefresh = 5 * time.Second

// PageSize is how many workflows the Workflows page lists at a time.
const PageSize = 50

// Options configure the dashboard (New).
type Options struct {
	// Token is the secret that authenticates a request, as a bearer token or typed into the
	// sign-in form; at least MinTokenLength characters. Empty: only Authorize
	// authenticates.
	Token string
	// Authorize authenticates a request by the application's own means, such as the
	// result of its session middleware that ran before the dashboard: true lets the
	// request read and write. Nil: only Token authenticates.
	Authorize func(*http.Request) bool
	// PublicReads lets requests without credentials read every page. Writes still need
	// authentication.
	PublicReads bool
	// Prefix is the path the dashboard is mounted under, such as "/wfgen" for
	// mux.Handle("/wfgen/", dash); "" when it serves the root. It must start with "/" and
	// not end with one.
	Prefix string
	// Refresh is how often pages (all but the sign-in page) refresh their content. Default
	// DefaultRefresh; negative turns it off.
	Refresh time.Duration
}

//go:embed assets
var assets embed.FS

// dashboard is the handler New returns.
type dashboard struct {
	c          *wf.Client
	opts       Options
	sessionKey []byte // signs session cookies; nil without a Token
	pages      map[string]*template.Template
	static     http.Handler
	handler    http.Handler
}

// New returns the dashboard of c's database as an http.Handler, or an error saying which
// option is wrong. c need not be started: the dashboard only reads and writes the database.
func New(c *wf.Client, opts Options) (http.Handler, error) {
	if c == nil {
		return nil, errors.New("wfdash: New: the wf.Client is nil")
	}
	if opts.Token != "" && len(opts.Token) < MinTokenLength {
		return nil, fmt.Errorf("wfdash: Options.Token has %d characters: use at least %d (such as the output of `openssl rand -hex 16`)", len(opts.Token), MinTokenLength)
	}
	if opts.Token == "" && opts.Authorize == nil {
		return nil, errors.New("wfdash: Options has neither a Token nor an Authorize function: give one, so that cancel, resume and fork need authentication (PublicReads opens the pages to everyone)")
	}
	if opts.Prefix != "" && (!strings.HasPrefix(opts.Prefix, "/") || strings.HasSuffix(opts.Prefix, "/")) {
		return nil, fmt.Errorf("wfdash: Options.Prefix is %q: give the mount path with a leading and no trailing slash, such as \"/wfgen\" for mux.Handle(\"/wfgen/\", dash)", opts.Prefix)
	}
	if opts.Refresh == 0 {
		opts.Refresh = DefaultRefresh
	}
	d := &dashboard{c: c, opts: opts}
	if opts.Token != "" {
		mac := hmac.New(sha256.New, []byte(opts.Token))
		mac.Write([]byte("wfdash session cookie key"))
		d.sessionKey = mac.Sum(nil)
	}
	var err error
	if d.pages, err = parsePages(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		return nil, err
	}
	d.static = http.StripPrefix("/static/", http.FileServerFS(static))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.read(d.queuesPage))
	mux.HandleFunc("GET /workflows", d.read(d.workflowsPage))
	mux.HandleFunc("GET /workflow", d.read(d.workflowPage))
	mux.HandleFunc("GET /executors", d.read(d.executorsPage))
	mux.HandleFunc("GET /schedules", d.read(d.schedulesPage))
	mux.HandleFunc("POST /workflow/cancel", d.write(d.cancel))
	mux.HandleFunc("POST /workflow/resume", d.write(d.resume))
	mux.HandleFunc("POST /workflow/fork", d.write(d.fork))
	mux.HandleFunc("GET /signin", d.signInPage)
	mux.HandleFunc("POST /signin", d.signIn)
	mux.HandleFunc("POST /signout", d.signOut)
	mux.Handle("GET /static/", d.static)
	mux.HandleFunc("/", d.notFound)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.fail(w, r, http.StatusForbidden, "Cross-origin request refused: the dashboard only accepts writes from its own pages.")
	}))
	var h http.Handler = cop.Handler(mux)
	if opts.Prefix != "" {
		h = http.StripPrefix(opts.Prefix, h)
	}
	d.handler = h
	return d, nil
}

// contentSecurityPolicy allows the dashboard's own script and stylesheet, and nothing
// inline or from elsewhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP serves a request under Options.Prefix, with the security headers.
func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, d.opts.Prefix+"/static/") {
		h.Set("Cache-Control", "no-store")
	}
	if r.URL.Path == d.opts.Prefix && d.opts.Prefix != "" {
		http.Redirect(w, r, d.opts.Prefix+"/", http.StatusFound)
		return
	}
	d.handler.ServeHTTP(w, r)
}

// read guards a page: it runs for authenticated requests, and for anonymous ones with
// PublicReads.
func (d *dashboard) read(page func(http.ResponseWriter, *http.Request, *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := d.newView(r)
		switch {
		case v.Authenticated || (d.opts.PublicReads && !v.wrongToken):
			page(w, r, v)
		case v.wrongToken:
			d.fail(w, r, http.StatusForbidden, "The bearer token is wrong.")
		default:
			d.askSignIn(w, r, v, "Sign in to see the dashboard.")
		}
	}
}

// write guards an action: it runs for authenticated requests only.
func (d *dashboard) write(action func(http.ResponseWriter, *http.Request, *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := d.newView(r)
		switch {
		case v.Authenticated:
			action(w, r, v)
		case v.wrongToken:
			d.fail(w, r, http.StatusForbidden, "The bearer token is wrong.")
		default:
			d.askSignIn(w, r, v, "Sign in to cancel, resume or fork workflows: writes need authentication.")
		}
	}
}

func (d *dashboard) notFound(w http.ResponseWriter, r *http.Request) {
	d.fail(w, r, http.StatusNotFound, "No such page.")
}
