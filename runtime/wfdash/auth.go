package wfdash

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// sessionCookie is the name of the cookie the sign-in form sets.
const sessionCookie = "wfdash_session"

// sessionLifetime is how long a sign-in lasts.
const sessionLifetime = 12 * time.Hour

// credentials says how a request authenticates: authenticated, or carrying a wrong bearer
// token (wrongToken), or neither.
func (d *dashboard) credentials(r *http.Request) (authenticated, wrongToken bool) {
	if auth := r.Header.Get("Authorization"); auth != "" && d.opts.Token != "" {
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if ok && d.tokenMatches(token) {
			return true, false
		}
		if d.opts.Authorize == nil || !d.opts.Authorize(r) {
			return false, true
		}
		return true, false
	}
	if d.opts.Authorize != nil && d.opts.Authorize(r) {
		return true, false
	}
	if ck, err := r.Cookie(sessionCookie); err == nil && d.validSession(ck.Value, time.Now()) {
		return true, false
	}
	return false, false
}

func (d *dashboard) tokenMatches(token string) bool {
	return d.opts.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(d.opts.Token)) == 1
}

// newSession returns a session cookie's value: its expiry in Unix seconds and the HMAC of
// that expiry under the key derived from the token, so that changing the token ends every
// session.
func (d *dashboard) newSession(now time.Time) string {
	exp := strconv.FormatInt(now.Add(sessionLifetime).Unix(), 10)
	return exp + "." + d.sign(exp)
}

func (d *dashboard) sign(exp string) string {
	mac := hmac.New(sha256.New, d.sessionKey)
	mac.Write([]byte("session|" + exp))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// validSession reports whether a session cookie's value is signed and not expired.
func (d *dashboard) validSession(v string, now time.Time) bool {
	if d.sessionKey == nil {
		return false
	}
	exp, sig, ok := strings.Cut(v, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(d.sign(exp))) {
		return false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	return err == nil && now.Before(time.Unix(unix, 0))
}

// cookiePath is the path the session cookie is sent for: the dashboard's.
func (d *dashboard) cookiePath() string {
	return d.opts.Prefix + "/"
}

// signInPage shows the sign-in form.
func (d *dashboard) signInPage(w http.ResponseWriter, r *http.Request) {
	d.render(w, http.StatusOK, "signin", d.signInView(r, r.URL.Query().Get("next")))
}

// signInView is the sign-in page's view. The page does not refresh itself: it shows
// nothing that changes, and a refresh replaces the form, dropping a token that a password
// manager filled in without focusing the field.
func (d *dashboard) signInView(r *http.Request, next string) *view {
	v := d.newView(r)
	v.Next = d.safeNext(next)
	v.RefreshMS = 0
	return v
}

// signIn checks the token typed into the form and, when it is right, sets the session
// cookie and goes back to the page the user came from.
func (d *dashboard) signIn(w http.ResponseWriter, r *http.Request) {
	v := d.signInView(r, r.PostFormValue("next"))
	if !d.tokenMatches(r.PostFormValue("token")) {
		v.Problem = "Wrong token."
		if d.opts.Token == "" {
			v.Problem = "This dashboard has no token: it uses your application's authentication."
		}
		d.render(w, http.StatusForbidden, "signin", v)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: d.newSession(time.Now()), Path: d.cookiePath(),
		MaxAge: int(sessionLifetime / time.Second), HttpOnly: true, Secure: overTLS(r),
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, v.Next, http.StatusSeeOther)
}

// overTLS reports whether the browser reached the dashboard over TLS, directly or through a
// proxy that says so; the session cookie is then sent over TLS only. (A forged header only
// makes the cookie stricter.)
func overTLS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

// signOut clears the session cookie.
func (d *dashboard) signOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: d.cookiePath(), MaxAge: -1,
		HttpOnly: true, Secure: overTLS(r), SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, d.opts.Prefix+"/signin", http.StatusSeeOther)
}

// safeNext is where to go after signing in: next when it is a path of the dashboard, the
// queues page otherwise (never another site).
func (d *dashboard) safeNext(next string) string {
	if strings.HasPrefix(next, d.opts.Prefix+"/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") &&
		!strings.HasPrefix(next, d.opts.Prefix+"/signin") {
		return next
	}
	return d.opts.Prefix + "/"
}

// askSignIn answers 401 with the sign-in form, which brings the user back to the page
// (for a refused write: the page the write came from).
func (d *dashboard) askSignIn(w http.ResponseWriter, r *http.Request, v *view, why string) {
	next := d.opts.Prefix + r.URL.RequestURI() // StripPrefix removed the prefix
	if r.Method != http.MethodGet {
		next = ""
		if u, err := url.Parse(r.Referer()); err == nil {
			next = u.RequestURI()
		}
	}
	v.Next = d.safeNext(next)
	v.Problem = why
	if d.opts.Token != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wfgen dashboard"`)
	}
	d.render(w, http.StatusUnauthorized, "signin", v)
}
