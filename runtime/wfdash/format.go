package wfdash

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/wfgen/wfgen/runtime/wf"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"when":    when,
	"ago":     ago,
	"dur":     dur,
	"short":   short,
	"join":    strings.Join,
	"pct":     func(f float64) string { return fmt.Sprintf("%.2f%%", f) },
	"final":   func(s wf.State) bool { return s.Final() },
	"json":    func(raw []byte) string { return indentJSON(raw) },
	"has":     func(m map[wf.State]bool, s wf.State) bool { return m[s] },
	"compact": compact,
}

// compact removes the insignificant spaces of JSON; s as it is when it is not JSON.
func compact(s string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return s
	}
	return b.String()
}

// when formats a time in UTC to the second; "—" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago says how long before (or after) now t is: "12s ago", "in 3h5m"; "" for none.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + roughly(-d)
	}
	return roughly(d) + " ago"
}

// roughly rounds d for reading: seconds under an hour, minutes under a day, hours above.
func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return strings.TrimSuffix(d.Round(time.Second).String(), "0s")
	case d < 24*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	days := d / (24 * time.Hour)
	return fmt.Sprintf("%dd%dh", days, (d-days*24*time.Hour)/time.Hour)
}

// dur formats a step's duration.
func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// short cuts s to n characters.
func short(n int, s string) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
