package model

import (
	"go/token"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Every name wfgen generates is defined in this file.
//
// Generated identifiers are exported when the annotated function is: a workflow F gets
// EnqueueF, EnqueueFTx, EnqueueManyF (when it takes an input), StartF, GetF and the handle
// type FHandle; an unexported workflow f gets enqueueF, ..., getF and fHandle. A step S
// gets the replay wrapper SStep. The definitions the runtime needs are unexported
// variables with a wfgen prefix, which user code has no reason to touch.

// GeneratedFile is the name of the file wfgen writes in each annotated package.
const GeneratedFile = "wf_gen.go"

// RegisterFunc is the name of the generated per-package registration function.
const RegisterFunc = "Register"

// DefaultName is the stable name of a workflow or step that names none: the package
// name, a dot and the function name. A main package has the uninformative name "main",
// so its import path's last element (its directory) stands in for it.
func DefaultName(pkgName, pkgPath, funcName string) string {
	if pkgName == "main" {
		pkgName = pkgPath[strings.LastIndex(pkgPath, "/")+1:]
	}
	return pkgName + "." + funcName
}

// exported gives name the exportedness of fn: an exported function gets exported API.
func exported(fn, prefix string) string {
	if token.IsExported(fn) {
		return prefix + fn
	}
	return lowerFirst(prefix) + upperFirst(fn)
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}

// EnqueueFunc enqueues the workflow.
func (w *Workflow) EnqueueFunc() string { return exported(w.Func, "Enqueue") }

// EnqueueTxFunc enqueues the workflow in the caller's transaction.
func (w *Workflow) EnqueueTxFunc() string { return w.EnqueueFunc() + "Tx" }

// EnqueueManyFunc enqueues one workflow per input; only workflows with an input have it.
func (w *Workflow) EnqueueManyFunc() string { return exported(w.Func, "EnqueueMany") }

// StartFunc runs the workflow in this process.
func (w *Workflow) StartFunc() string { return exported(w.Func, "Start") }

// GetFunc returns the handle of a workflow by ID.
func (w *Workflow) GetFunc() string { return exported(w.Func, "Get") }

// HandleType is the typed handle.
func (w *Workflow) HandleType() string { return w.Func + "Handle" }

// DefVar holds the *wf.Workflow definition.
func (w *Workflow) DefVar() string { return "wfgenWorkflow" + upperFirst(w.Func) }

// ScheduleVar holds the *wf.Schedule of a scheduled workflow.
func (w *Workflow) ScheduleVar() string { return "wfgenSchedule" + upperFirst(w.Func) }

// GeneratedNames lists the package-level identifiers generated for the workflow.
func (w *Workflow) GeneratedNames() []string {
	names := []string{w.EnqueueFunc(), w.EnqueueTxFunc(), w.StartFunc(), w.GetFunc(), w.HandleType(), w.DefVar()}
	if w.In != nil {
		names = append(names, w.EnqueueManyFunc())
	}
	if w.Schedule != nil {
		names = append(names, w.ScheduleVar())
	}
	return names
}

// WrapperFunc is the step's replay wrapper, called from workflows.
func (s *Step) WrapperFunc() string { return s.Func + "Step" }

// DefVar holds the *wf.Step definition.
func (s *Step) DefVar() string { return "wfgenStep" + upperFirst(s.Func) }

// GeneratedNames lists the package-level identifiers generated for the step.
func (s *Step) GeneratedNames() []string {
	return []string{s.WrapperFunc(), s.DefVar()}
}

// ReferableNames lists every identifier generated for an annotated function that user code
// may refer to, whatever the function's signature turns out to be. wfgen type-checks
// packages without their previous wf_gen.go, so references to these are expected to be
// undefined then.
func ReferableNames(step bool, fn string) []string {
	if step {
		s := &Step{Func: fn}
		return []string{s.WrapperFunc()}
	}
	w := &Workflow{Func: fn}
	return []string{w.EnqueueFunc(), w.EnqueueTxFunc(), w.EnqueueManyFunc(), w.StartFunc(), w.GetFunc(), w.HandleType()}
}
