// Package testlog records what a service under test logs, so that the test can check which
// messages it logged and with what attributes. Every record is also written to the test's
// log.
//
//	logs := testlog.New(t)
//	s, err := scheduler.New(scheduler.Config{Logger: logs.Logger(), ...})
//	// ...
//	require.Len(t, logs.Find(slog.LevelWarn, "enqueueing a scheduled workflow failed"), 1)
package testlog

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Recorder is a slog.Handler that keeps every record. It is safe for concurrent use.
type Recorder struct {
	t       testing.TB
	mu      sync.Mutex
	records []slog.Record
}

// New returns a Recorder that writes every record to t's log too.
func New(t testing.TB) *Recorder { return &Recorder{t: t} }

// Logger returns a logger that logs to r.
func (r *Recorder) Logger() *slog.Logger { return slog.New(r) }

// Enabled reports that every level is recorded.
func (r *Recorder) Enabled(context.Context, slog.Level) bool { return true }

// Handle records rec.
func (r *Recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	r.t.Log(rec.Level, rec.Message)
	return nil
}

// WithAttrs panics: the services log their attributes with each message.
func (r *Recorder) WithAttrs([]slog.Attr) slog.Handler { panic("testlog: WithAttrs is not supported") }

// WithGroup panics: the services do not group attributes.
func (r *Recorder) WithGroup(string) slog.Handler { panic("testlog: WithGroup is not supported") }

// Find returns the attributes of the records of level whose message contains msg, oldest
// first.
func (r *Recorder) Find(level slog.Level, msg string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, rec := range r.records {
		if rec.Level != level || !strings.Contains(rec.Message, msg) {
			continue
		}
		attrs := map[string]any{}
		rec.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.Any()
			return true
		})
		out = append(out, attrs)
	}
	return out
}
