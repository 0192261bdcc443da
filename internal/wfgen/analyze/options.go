package analyze

import (
	"fmt"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/wfgen/wfgen/internal/wfgen/directive"
	"github.com/wfgen/wfgen/runtime/wf"
)

// The annotation kinds and the options each accepts.
const (
	kindWorkflow  = "workflow"
	kindStep      = "step"
	kindScheduled = "scheduled"
)

var knownOptions = map[string][]string{
	kindWorkflow: {"name", "queue", "max_recovery", "timeout"},
	// A scheduled workflow is a workflow: it takes the workflow options too.
	kindScheduled: {"cron", "tz", "queue", "backfill", "name", "max_recovery", "timeout"},
	kindStep:      {"name", "retries", "backoff", "max_backoff", "factor", "jitter", "retry_if", "timeout", "tx"},
}

// flagOptions are the options written as a bare word, without a value.
var flagOptions = map[string]bool{"tx": true}

// diagSink reports mistakes at the positions they are about.
type diagSink struct {
	fset *token.FileSet
	add  func(pos token.Position, format string, args ...any)
}

func (d *diagSink) at(pos token.Pos, format string, args ...any) {
	d.add(d.fset.Position(pos), format, args...)
}

// checkKnown reports options the directive's kind does not have, and values missing or
// given where they do not belong; it returns the directive without the options whose
// value is wrong that way, so that nothing reports them twice.
func (d *diagSink) checkKnown(dir directive.Directive) directive.Directive {
	known := knownOptions[dir.Kind]
	kept := dir.Options[:0:0]
	for _, o := range dir.Options {
		if slices.Contains(known, o.Key) {
			switch {
			case o.Bare && !flagOptions[o.Key]:
				d.at(o.Pos, "option %q has no value: write %s=value", o.Key, o.Key)
			case !o.Bare && flagOptions[o.Key]:
				// Kept: the flag is clearly meant, and dropping it would report its
				// absence too.
				d.at(o.Pos, "option %s takes no value: write %s alone", o.Key, o.Key)
				kept = append(kept, o)
			default:
				kept = append(kept, o)
			}
			continue
		}
		hint := ""
		if s := closest(o.Key, known); s != "" {
			hint = fmt.Sprintf(" (did you mean %s?)", s)
		}
		d.at(o.Pos, "unknown option %q for //wf:%s%s; known options: %s", o.Key, dir.Kind, hint, strings.Join(known, ", "))
	}
	dir.Options = kept
	return dir
}

func (d *diagSink) name(o directive.Option) string {
	if o.Value == "" || strings.ContainsFunc(o.Value, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		d.at(o.ValuePos, "%s: %q is not a valid name: use a non-empty name without spaces", o.Key, o.Value)
		return ""
	}
	return o.Value
}

// duration reads a Go duration; zero is allowed only where it means something.
func (d *diagSink) duration(o directive.Option, allowZero bool) time.Duration {
	v, err := time.ParseDuration(o.Value)
	if err != nil {
		d.at(o.ValuePos, "%s: invalid duration %q: use Go duration syntax such as 30s, 5m or 1h30m", o.Key, o.Value)
		return 0
	}
	if v < 0 || v == 0 && !allowZero {
		d.at(o.ValuePos, "%s: duration %s must be positive", o.Key, o.Value)
		return 0
	}
	return v
}

func (d *diagSink) count(o directive.Option) (int, bool) {
	n, err := strconv.Atoi(o.Value)
	if err != nil {
		d.at(o.ValuePos, "%s: %q is not a whole number", o.Key, o.Value)
		return 0, false
	}
	if n < 0 {
		d.at(o.ValuePos, "%s: %d must not be negative", o.Key, n)
		return 0, false
	}
	return n, true
}

func (d *diagSink) factor(o directive.Option) float64 {
	f, err := strconv.ParseFloat(o.Value, 64)
	if err != nil {
		d.at(o.ValuePos, "%s: %q is not a number", o.Key, o.Value)
		return 0
	}
	if f < 1 {
		d.at(o.ValuePos, "%s: %s must be at least 1 (the wait must not shrink between retries)", o.Key, o.Value)
		return 0
	}
	return f
}

// jitter reads a fraction between 0 and 1, as wf.Jitter takes it.
func (d *diagSink) jitter(o directive.Option) *float64 {
	f, err := strconv.ParseFloat(o.Value, 64)
	if err != nil {
		d.at(o.ValuePos, "%s: %q is not a number", o.Key, o.Value)
		return nil
	}
	if f < 0 || f > 1 {
		d.at(o.ValuePos, "%s: %s must be between 0 and 1 (a fraction of each wait, such as 0.2 for ±20%%)", o.Key, o.Value)
		return nil
	}
	return &f
}

// cron validates a spec with the parser the runtime uses, so that a spec accepted here is
// accepted at run time.
func (d *diagSink) cron(o directive.Option) string {
	if _, err := wf.ParseCron(o.Value); err != nil {
		d.at(o.ValuePos, "cron: invalid spec %q: %v; use five fields (minute hour day-of-month month day-of-week) or a descriptor such as @daily or @every 1h", o.Value, err)
		return ""
	}
	return o.Value
}

func (d *diagSink) timezone(o directive.Option) string {
	if o.Value == "" || o.Value == "Local" {
		d.at(o.ValuePos, "tz: %q is not a time zone: use an IANA name such as UTC or Europe/Paris", o.Value)
		return ""
	}
	if _, err := time.LoadLocation(o.Value); err != nil {
		d.at(o.ValuePos, "tz: unknown time zone %q: use an IANA name such as UTC or Europe/Paris", o.Value)
		return ""
	}
	return o.Value
}

// closest returns the known option nearest to a misspelled one, or "".
func closest(key string, known []string) string {
	best, bestDist := "", min(4, len(key)) // "retry" is 3 edits from "retries"
	for _, k := range known {
		if d := editDistance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
