// Package diag collects the mistakes wfgen finds in user code, each with the position it is
// about, and prints them the way go build does: path:line:col: message, sorted, all at once.
package diag

import (
	"cmp"
	"fmt"
	"go/token"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// Diagnostic is one mistake at one position.
type Diagnostic struct {
	Pos token.Position
	Msg string
}

// List is the diagnostics of one run. The zero value is ready to use.
type List []Diagnostic

// Addf records a diagnostic at pos.
func (l *List) Addf(pos token.Position, format string, args ...any) {
	*l = append(*l, Diagnostic{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// Sorted returns the diagnostics ordered by file, line, column and message, without
// duplicates (two checks can find the same mistake).
func (l List) Sorted() List {
	s := slices.Clone(l)
	slices.SortFunc(s, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.Pos.Filename, b.Pos.Filename),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
	return slices.Compact(s)
}

// Err returns the list as an *Error, or nil when it is empty.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return &Error{List: l.Sorted()}
}

// Error is the error of a run that found mistakes in user code.
type Error struct {
	List List // sorted
}

func (e *Error) Error() string {
	var b strings.Builder
	e.Print(&b, "")
	return strings.TrimSuffix(b.String(), "\n")
}

// Print writes one line per diagnostic, with file names relative to base when they are
// inside it (so that editors and terminals can open them from where the command ran). A
// diagnostic about no file in particular is prefixed with "wfgen".
func (e *Error) Print(w io.Writer, base string) {
	for _, d := range e.List {
		where := "wfgen"
		if d.Pos.Filename != "" {
			where = RelPos(d.Pos, base)
		}
		fmt.Fprintf(w, "%s: %s\n", where, d.Msg)
	}
}

// RelPos formats pos as path:line:col, the path relative to base when it is inside base.
func RelPos(pos token.Position, base string) string {
	pos.Filename = RelPath(pos.Filename, base)
	return pos.String()
}

// RelPath returns path relative to base when it is inside base, else path unchanged.
func RelPath(path, base string) string {
	if base == "" || path == "" {
		return path
	}
	rel, err := filepath.Rel(base, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}
