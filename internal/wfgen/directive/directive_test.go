package directive

import (
	"go/ast"
	"go/token"
	"reflect"
	"testing"
)

func TestParseReadsKindOptionsAndPositions(t *testing.T) {
	t.Parallel()
	const base = token.Pos(100)
	for _, tc := range []struct {
		text    string
		kind    string
		options []Option
		errs    []Error
	}{
		{text: "//wf:step", kind: "step"},
		{
			text: `//wf:scheduled cron="0 3 * * *"  tz=UTC`,
			kind: "scheduled",
			options: []Option{
				{Key: "cron", Value: "0 3 * * *", Pos: base + 15, ValuePos: base + 20},
				{Key: "tz", Value: "UTC", Pos: base + 33, ValuePos: base + 36},
			},
		},
		{
			text:    `//wf:workflow name="a \"b\""`,
			kind:    "workflow",
			options: []Option{{Key: "name", Value: `a "b"`, Pos: base + 14, ValuePos: base + 19}},
		},
		{
			text: "//wf:step retries=1 retries=2 bare",
			kind: "step",
			options: []Option{
				{Key: "retries", Value: "1", Pos: base + 10, ValuePos: base + 18},
				{Key: "bare", Pos: base + 30, ValuePos: base + 30, Bare: true},
			},
			errs: []Error{{base + 20, "option retries given twice"}},
		},
		{
			text: `//wf:step name="open`,
			kind: "step",
			errs: []Error{{base + 15, `option name: unterminated or malformed quoted value "open`}},
		},
		{
			text:    `//wf:step name="x"y timeout=1s`,
			kind:    "step",
			options: []Option{{Key: "name", Value: "x", Pos: base + 10, ValuePos: base + 15}, {Key: "timeout", Value: "1s", Pos: base + 20, ValuePos: base + 28}},
			errs:    []Error{{base + 18, "option name: expected a space after the quoted value"}},
		},
		{
			text: "//wf: x=1",
			errs: []Error{{base, `annotation "//wf: x=1" has no kind: write //wf:workflow, //wf:step or //wf:scheduled`}},
			options: []Option{
				{Key: "x", Value: "1", Pos: base + 6, ValuePos: base + 8},
			},
		},
	} {
		d, errs := Parse(&ast.Comment{Slash: base, Text: tc.text})
		if d.Kind != tc.kind || d.Pos != base || !reflect.DeepEqual(d.Options, tc.options) || !reflect.DeepEqual(errs, tc.errs) {
			t.Errorf("Parse(%q) =\n  %+v, %+v\nwant kind %q, options %+v, errors %+v", tc.text, d, errs, tc.kind, tc.options, tc.errs)
		}
	}
}

func TestAllowReadsTheReasonOfAnAllowComment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text   string
		reason string
		ok     bool
	}{
		{"//wf:allow the region is fixed per deployment", "the region is fixed per deployment", true},
		{"//wf:allow\tfixed ", "fixed", true},
		{"//wf:allow", "", true},
		{"//wf:allow   ", "", true},
		{"//wf:allowed reason", "", false},
		{"//wf:workflow", "", false},
		{"// wf:allow reason", "", false},
	} {
		reason, ok := Allow(&ast.Comment{Text: tc.text})
		if reason != tc.reason || ok != tc.ok {
			t.Errorf("Allow(%q) = %q, %v; want %q, %v", tc.text, reason, ok, tc.reason, tc.ok)
		}
	}
}
