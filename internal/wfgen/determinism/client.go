package determinism

import (
	"go/ast"
	"go/types"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wfgen/wfgen/internal/wfgen/model"
)

const wfPath = "github.com/wfgen/wfgen/runtime/wf"

// clientCall says why a call is a client-side call that a workflow must not make, with
// the workflow-side call to make instead, or returns "". Client-side calls are not
// checkpointed: a replay enqueues, sends or reads again.
func (p *Package) clientCall(call *ast.CallExpr, fn *types.Func) string {
	if fn != nil {
		if fn.Pkg() != nil && fn.Pkg().Path() == wfPath {
			return runtimeClientCall(fn)
		}
		if p.inGeneratedFile(fn) {
			return p.generatedClientCall(fn.Name(), fn.Signature())
		}
		return ""
	}
	// Generated code of a package loaded in this run is absent, so its identifiers are
	// undefined: they are told apart by name.
	switch f := ast.Unparen(call.Fun).(type) {
	case *ast.Ident:
		if p.Info.Uses[f] == nil && p.Generated != nil {
			if role, wfFunc, ok := p.Generated(p.Path, f.Name); ok {
				return clientRole(f.Name, "", role, wfFunc)
			}
		}
	case *ast.SelectorExpr:
		if x, ok := f.X.(*ast.Ident); ok {
			if pn, ok := p.Info.Uses[x].(*types.PkgName); ok {
				if p.Info.Uses[f.Sel] == nil && p.Generated != nil {
					if role, wfFunc, ok := p.Generated(pn.Imported().Path(), f.Sel.Name); ok {
						return clientRole(f.Sel.Name, pn.Name()+".", role, wfFunc)
					}
				}
				return ""
			}
		}
		// A method of a value whose type is unknown while wfgen runs: a generated handle.
		if p.Info.Uses[f.Sel] == nil && !p.known(f.X) {
			return handleMethod(f.Sel.Name, p.Accessors[f.Sel.Name])
		}
	}
	return ""
}

// known reports whether an expression has a type: only values of generated types, absent
// while wfgen runs, have none in a package that builds.
func (p *Package) known(e ast.Expr) bool {
	t := p.Info.TypeOf(e)
	if t == nil {
		return false
	}
	b, ok := t.(*types.Basic)
	return !ok || b.Kind() != types.Invalid
}

// inGeneratedFile reports whether fn is declared in a file wfgen wrote: generated code of
// a package this run did not load, read from its export data.
func (p *Package) inGeneratedFile(fn *types.Func) bool {
	if p.Fset == nil || !fn.Pos().IsValid() {
		return false
	}
	return filepath.Base(p.Fset.Position(fn.Pos()).Filename) == model.GeneratedFile
}

// generatedClientCall judges a function or handle method of wf_gen.go by its name and
// signature: the client-side ones take a context.Context, the workflow-side ones the
// wf.Context.
func (p *Package) generatedClientCall(name string, sig *types.Signature) string {
	if sig.Params().Len() == 0 || !isNamed(sig.Params().At(0).Type(), "context", "Context") {
		return ""
	}
	if recv := sig.Recv(); recv != nil {
		return handleMethod(name, name != "Cancel" && name != "Result" && name != "Poll" && name != "Status")
	}
	role, wfFunc, ok := model.ParseClientFunc(name)
	if !ok {
		return ""
	}
	return clientRole(name, "", role, wfFunc)
}

// clientRole words the finding for a call of a generated client-side function, of the
// package qual names ("pkg." or "").
func clientRole(name, qual string, role model.Role, wfFunc string) string {
	w := &model.Workflow{Func: wfFunc}
	name = qual + name
	instead := ""
	switch role {
	case model.RoleEnqueue, model.RoleEnqueueTx:
		instead = "call " + qual + w.EnqueueChildFunc() + "(ctx, ...), which enqueues a child that a replay gets back"
	case model.RoleEnqueueMany:
		instead = "call " + qual + w.EnqueueChildrenFunc() + "(ctx, ...), which enqueues children that a replay gets back"
	case model.RoleStart:
		instead = "call " + qual + w.StartChildFunc() + "(ctx, ...), which starts a child that a replay gets back"
	case model.RoleDebounce:
		instead = "debouncing is for clients; call " + qual + w.EnqueueChildFunc() + "(ctx, ...) to run the workflow as a child"
	case model.RoleTrigger:
		instead = "triggering a schedule's tick is for clients; run the work as a child workflow instead"
	case model.RoleList:
		instead = "a replay can list other runs; list them in a step, or pass what the workflow needs in its input"
	default:
		return ""
	}
	return name + " in workflow %s is a client call: it is not checkpointed, so every replay runs it again; " + instead
}

// handleMethod words the finding for a client-side method of a generated handle, or
// returns "" for the others (accessor says the method is a generated accessor).
func handleMethod(name string, accessor bool) string {
	switch {
	case name == "Result" || name == "Poll" || name == "Status":
		return "h." + name + " in workflow %s reads another workflow's state outside this one's history, so a replay can see something else; wait for it with h.Await(ctx), which is checkpointed"
	case accessor:
		return "h." + name + " in workflow %s is a client call: it is not checkpointed, so a replay runs it again and can see or do something else; do it in a step, or exchange messages with Topic.SendFromWorkflow and Topic.Recv"
	}
	return ""
}

// runtimeClientCall judges a method of the runtime's types.
func runtimeClientCall(fn *types.Func) string {
	recv := fn.Signature().Recv()
	if recv == nil {
		return ""
	}
	t := recv.Type()
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := types.Unalias(t).(*types.Named)
	if !ok {
		return ""
	}
	typ, m := n.Obj().Name(), fn.Name()
	what := "wf." + typ + "." + m + " in workflow %s is a client call: it is not checkpointed, so every replay runs it again; "
	switch typ + "." + m {
	case "Workflow.Enqueue", "Workflow.EnqueueTx":
		return what + "enqueue a child with the generated EnqueueChild function (or Workflow.EnqueueChild), which a replay gets back"
	case "Workflow.EnqueueMany":
		return what + "enqueue children with the generated EnqueueChildren function (or Workflow.EnqueueChildren), which a replay gets back"
	case "Workflow.Start":
		return what + "start a child with the generated StartChild function (or Workflow.StartChild), which a replay gets back"
	case "Workflow.Debounce":
		return what + "debouncing is for clients; run the workflow as a child with the generated EnqueueChild function"
	case "Handle.Result", "Handle.Poll", "Handle.Status":
		return "wf.Handle." + m + " in workflow %s reads another workflow's state outside this one's history, so a replay can see something else; wait for it with Await(ctx), which is checkpointed"
	case "Topic.Send":
		return what + "send with SendFromWorkflow(ctx, to, msg), which sends exactly once"
	case "Topic.SendMany":
		return what + "send with SendManyFromWorkflow(ctx, msgs), which sends exactly once"
	case "Event.Get", "Event.Wait", "Stream.Read", "Stream.All":
		return "wf." + typ + "." + m + " in workflow %s reads another workflow's " + strings.ToLower(typ) + " outside this one's history, so a replay can see something else; read it in a step, or have that workflow send a message (Topic.SendFromWorkflow) that this one receives with Topic.Recv"
	}
	return ""
}

// ioCall says why calling fn in a workflow does I/O that belongs in a step, or returns "".
func ioCall(fn *types.Func) string {
	pkg := fn.Pkg()
	if pkg == nil {
		return ""
	}
	const step = "; move it into a step, whose outcome is checkpointed"
	recv := ""
	if r := fn.Signature().Recv(); r != nil {
		t := r.Type()
		if p, ok := t.(*types.Pointer); ok {
			t = p.Elem()
		}
		if n, ok := types.Unalias(t).(*types.Named); ok {
			recv = n.Obj().Name()
		}
	}
	switch path := pkg.Path(); {
	case path == "net/http":
		if recv == "" || recv == "Client" || recv == "Transport" {
			return "does network I/O, which runs again on every replay and can answer differently" + step
		}
	case path == "database/sql", path == "github.com/jackc/pgx/v5" || strings.HasPrefix(path, "github.com/jackc/pgx/v5/"):
		return "talks to the database, which runs again on every replay and can answer differently" + step
	case path == "os":
		switch {
		case recv == "File":
			return "does file I/O, which runs again on every replay and can see other data" + step
		case recv != "":
		case slices.Contains(osEnv, fn.Name()):
			return "uses the process's environment, which can differ on the worker that replays the workflow" + step
		case slices.Contains(osFiles, fn.Name()):
			return "does file I/O, which runs again on every replay and can see other data" + step
		}
	case path == "github.com/google/uuid":
		if recv == "" && slices.Contains(uuidRandom, fn.Name()) {
			return "makes another UUID on every replay" + step + " (or derive the ID from ctx.WorkflowID())"
		}
	}
	return ""
}

// The functions of package os that use the environment or the file system.
var (
	osEnv   = []string{"Getenv", "LookupEnv", "Environ", "ExpandEnv", "Setenv", "Unsetenv", "Clearenv", "Hostname", "Getwd", "Executable", "Getpid", "Getppid", "Getuid", "Getgid", "UserHomeDir", "UserCacheDir", "UserConfigDir", "TempDir"}
	osFiles = []string{"Open", "OpenFile", "OpenRoot", "OpenInRoot", "Create", "CreateTemp", "ReadFile", "WriteFile", "ReadDir", "Stat", "Lstat", "Remove", "RemoveAll", "Rename", "Mkdir", "MkdirAll", "MkdirTemp", "Chdir", "Chmod", "Chown", "Lchown", "Chtimes", "Link", "Symlink", "Readlink", "Truncate", "CopyFS", "DirFS"}
	// The uuid functions that draw random bits or read the clock; the name-based ones
	// (NewMD5, NewSHA1, NewHash) are deterministic.
	uuidRandom = []string{"New", "NewString", "NewRandom", "NewRandomFromReader", "NewUUID", "NewV6", "NewV7", "NewV7FromReader", "NewDCESecurity", "NewDCEPerson", "NewDCEGroup"}
)

// isNamed reports whether t is the named type path.name (through aliases).
func isNamed(t types.Type, path, name string) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == path && n.Obj().Name() == name
}
