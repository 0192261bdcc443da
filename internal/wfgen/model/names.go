package model

import (
	"go/token"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Every name wfgen generates is defined in this file.
//
// Generated identifiers are exported when the annotated function is: every workflow F gets
// the name constant FName, GetF, ListFRuns, AwaitAllF, the handle type FHandle and the list
// entry type FRun. A workflow that is not scheduled also gets EnqueueF, EnqueueFTx, EnqueueManyF (when
// it takes an input), StartF, EnqueueChildF, StartChildF, EnqueueChildrenF (when it takes
// an input) and DebounceF; a scheduled one gets TriggerF instead, since its schedule starts
// it. An unexported workflow f gets fName, getF, listFRuns, fHandle, fRun, enqueueF and so
// on. A step S gets the replay wrapper SStep. The definitions the runtime needs are
// unexported variables with a wfgen prefix, which user code has no reason to touch.
//
// A handle gets accessors named after the package's channel variables its workflow
// uses, exported when the variable is: GetP and WaitP for an event P, SendA for a topic
// A, ReadL and AllL for a stream L.

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

// NameConst is the constant holding the workflow's stable name.
func (w *Workflow) NameConst() string { return w.Func + "Name" }

// RunType is a run as ListFunc finds it: its status and its handle.
func (w *Workflow) RunType() string { return w.Func + "Run" }

// ListFunc lists the workflow's runs.
func (w *Workflow) ListFunc() string { return exported(w.Func, "List") + "Runs" }

// TriggerFunc enqueues a scheduled workflow's run for a tick by hand.
func (w *Workflow) TriggerFunc() string { return exported(w.Func, "Trigger") }

// HasEnqueueFuncs reports whether the workflow gets EnqueueF, EnqueueFTx, EnqueueManyF and
// StartF: a scheduled workflow is started by its schedule, or by TriggerF for one tick.
func (w *Workflow) HasEnqueueFuncs() bool { return w.Schedule == nil }

// EnqueueFunc enqueues the workflow.
func (w *Workflow) EnqueueFunc() string { return exported(w.Func, "Enqueue") }

// EnqueueTxFunc enqueues the workflow in the caller's transaction.
func (w *Workflow) EnqueueTxFunc() string { return w.EnqueueFunc() + "Tx" }

// EnqueueManyFunc enqueues one workflow per input; only workflows with an input have it.
func (w *Workflow) EnqueueManyFunc() string { return exported(w.Func, "EnqueueMany") }

// StartFunc runs the workflow in this process.
func (w *Workflow) StartFunc() string { return exported(w.Func, "Start") }

// EnqueueChildFunc enqueues the workflow as a child of the calling workflow.
func (w *Workflow) EnqueueChildFunc() string { return exported(w.Func, "EnqueueChild") }

// StartChildFunc runs the workflow as a child of the calling workflow, in its process.
func (w *Workflow) StartChildFunc() string { return exported(w.Func, "StartChild") }

// EnqueueChildrenFunc enqueues one child per input; only workflows with an input have it.
func (w *Workflow) EnqueueChildrenFunc() string { return exported(w.Func, "EnqueueChildren") }

// AwaitAllFunc waits, in a workflow, for many runs of the workflow in one step.
func (w *Workflow) AwaitAllFunc() string { return exported(w.Func, "AwaitAll") }

// DebounceFunc enqueues the workflow after a quiet period per key.
func (w *Workflow) DebounceFunc() string { return exported(w.Func, "Debounce") }

// HasChildFuncs reports whether the workflow gets EnqueueChild, StartChild,
// EnqueueChildren and Debounce functions: a scheduled workflow is started by its
// schedule only.
func (w *Workflow) HasChildFuncs() bool { return w.Schedule == nil }

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
	names := []string{w.NameConst(), w.GetFunc(), w.ListFunc(), w.HandleType(), w.RunType(), w.DefVar(), w.AwaitAllFunc()}
	if w.HasEnqueueFuncs() {
		names = append(names, w.EnqueueFunc(), w.EnqueueTxFunc(), w.StartFunc())
		if w.In != nil {
			names = append(names, w.EnqueueManyFunc())
		}
	}
	if w.HasChildFuncs() {
		names = append(names, w.EnqueueChildFunc(), w.StartChildFunc(), w.DebounceFunc())
		if w.In != nil {
			names = append(names, w.EnqueueChildrenFunc())
		}
	}
	if w.Schedule != nil {
		names = append(names, w.TriggerFunc(), w.ScheduleVar())
	}
	return names
}

// WrapperFunc is the step's replay wrapper, called from workflows.
func (s *Step) WrapperFunc() string { return s.Func + "Step" }

// DefVar holds the *wf.Step definition.
func (s *Step) DefVar() string { return "wfgenStep" + upperFirst(s.Func) }

// DepParam names Register's parameter for a receiver type: the type's name, lower-cased
// first (the analyzer appends a number when that would shadow a name the body uses).
func DepParam(typeName string) string { return lowerFirst(typeName) }

// GeneratedNames lists the package-level identifiers generated for the step.
func (s *Step) GeneratedNames() []string {
	return []string{s.WrapperFunc(), s.DefVar()}
}

// ReferableNames lists every identifier generated for an annotated function that user code
// may refer to, whatever the function's signature turns out to be. wfgen type-checks
// packages without their previous wf_gen.go, so references to these are expected to be
// undefined then.
func ReferableNames(step bool, fn string) []string {
	roles := Roles(step, fn)
	names := make([]string, 0, len(roles))
	for name := range roles {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// GetAccessor reads an event's value on a handle without waiting.
func (c *Channel) GetAccessor() string { return exported(c.Var, "Get") }

// WaitAccessor waits for an event's value on a handle.
func (c *Channel) WaitAccessor() string { return exported(c.Var, "Wait") }

// SendAccessor sends a message on a topic to a handle's workflow.
func (c *Channel) SendAccessor() string { return exported(c.Var, "Send") }

// ReadAccessor reads a stream's values on a handle without waiting.
func (c *Channel) ReadAccessor() string { return exported(c.Var, "Read") }

// AllAccessor iterates over a stream's values on a handle until it is closed.
func (c *Channel) AllAccessor() string { return exported(c.Var, "All") }

// Role says what a generated function is for; the determinism checks tell workflow-side
// calls from client-side ones by it.
type Role int

// The roles of generated functions.
const (
	RoleNone Role = iota
	// Client side: they take a context.Context and a *wf.Client, and are not replayed.
	RoleEnqueue
	RoleEnqueueTx
	RoleEnqueueMany
	RoleStart
	RoleDebounce
	RoleTrigger
	RoleList
	// Neither: GetF touches nothing, and the others are a constant and types.
	RoleGet
	RoleHandle
	RoleName
	RoleRun
	// Workflow side: they take the workflow's wf.Context and consume one step ID each.
	RoleEnqueueChild
	RoleStartChild
	RoleEnqueueChildren
	RoleAwaitAll
	RoleStepWrapper
)

// ClientSide reports whether a function of the role is for clients, not workflows.
func (r Role) ClientSide() bool { return r >= RoleEnqueue && r <= RoleList }

// WorkflowSide reports whether a function of the role is called from workflows and
// consumes a step ID.
func (r Role) WorkflowSide() bool { return r >= RoleEnqueueChild }

// Roles maps every identifier that may be generated for an annotated function to its
// role (see ReferableNames).
func Roles(step bool, fn string) map[string]Role {
	if step {
		return map[string]Role{(&Step{Func: fn}).WrapperFunc(): RoleStepWrapper}
	}
	w := &Workflow{Func: fn}
	return map[string]Role{
		w.EnqueueFunc(): RoleEnqueue, w.EnqueueTxFunc(): RoleEnqueueTx, w.EnqueueManyFunc(): RoleEnqueueMany,
		w.StartFunc(): RoleStart, w.DebounceFunc(): RoleDebounce, w.TriggerFunc(): RoleTrigger, w.ListFunc(): RoleList,
		w.GetFunc(): RoleGet, w.HandleType(): RoleHandle, w.NameConst(): RoleName, w.RunType(): RoleRun,
		w.EnqueueChildFunc(): RoleEnqueueChild, w.StartChildFunc(): RoleStartChild, w.EnqueueChildrenFunc(): RoleEnqueueChildren,
		w.AwaitAllFunc(): RoleAwaitAll,
	}
}

// ParseClientFunc reads the name of a generated client-side function (EnqueueF,
// EnqueueFTx, EnqueueManyF, StartF, DebounceF, TriggerF, ListFRuns, or their unexported
// forms) back into its role and workflow function. A workflow whose name starts with Many
// can be read wrong; the result only words messages.
func ParseClientFunc(name string) (Role, string, bool) {
	for _, p := range []struct {
		prefix string
		role   Role
	}{
		{"EnqueueMany", RoleEnqueueMany}, {"Enqueue", RoleEnqueue}, {"Start", RoleStart}, {"Debounce", RoleDebounce},
		{"Trigger", RoleTrigger}, {"List", RoleList},
	} {
		for _, prefix := range []string{p.prefix, lowerFirst(p.prefix)} {
			rest, ok := strings.CutPrefix(name, prefix)
			if ok && p.role == RoleList {
				rest, ok = strings.CutSuffix(rest, "Runs")
			}
			if !ok || rest == "" {
				continue
			}
			fn := rest
			if prefix != p.prefix {
				fn = lowerFirst(rest)
			}
			role := p.role
			if role == RoleEnqueue && strings.HasSuffix(fn, "Tx") && len(fn) > 2 {
				role, fn = RoleEnqueueTx, strings.TrimSuffix(fn, "Tx")
			}
			return role, fn, true
		}
	}
	return RoleNone, "", false
}
