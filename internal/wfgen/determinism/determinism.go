// Package determinism finds code in workflows that can take another path when the
// workflow replays (DESIGN.md §7): a replayed workflow must call the same steps in the
// same order, so everything it decides on must come from its input and its steps'
// recorded outputs. The runtime detects a divergence when it happens (a
// NonDeterminismError); this package reports the usual causes before the code runs.
//
// It checks a workflow's body and the bodies of the functions of its package that it
// calls (they run inside the workflow too), not steps, whose outputs are recorded:
//   - time.Now, time.Since and time.Until: another time on replay;
//   - math/rand, math/rand/v2 and crypto/rand functions: other numbers on replay;
//   - go statements: goroutines run in no fixed order;
//   - select statements: among ready cases, one is picked at random;
//   - ranging over a map in a loop that calls functions: keys come in random order;
//   - calling a step function directly rather than through its replay wrapper;
//   - client-side calls, which are not checkpointed, so a replay makes them again: the
//     generated EnqueueF, EnqueueFTx, EnqueueManyF, StartF and DebounceF (use
//     EnqueueChildF, EnqueueChildrenF, StartChildF), a handle's Result, Poll and Status
//     (use Await) and its event, topic and stream accessors, wf.Workflow's Enqueue,
//     EnqueueTx, EnqueueMany, Start and Debounce, wf.Topic's Send and SendMany (use
//     SendFromWorkflow and SendManyFromWorkflow), wf.Event's Get and Wait and wf.Stream's
//     Read and All;
//   - I/O: net/http, database/sql, pgx, os file and environment functions, and
//     github.com/google/uuid's random UUIDs, which belong in steps.
//
// A finding on purpose is kept quiet with a //wf:allow comment that says why, on the line
// of the call or on the line before it (the analyzer drops the findings there).
package determinism

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"

	"github.com/wfgen/wfgen/internal/wfgen/model"
)

// Finding is one piece of non-deterministic code.
type Finding struct {
	Pos token.Pos
	Msg string
}

// Package is what the check knows about the workflow's package.
type Package struct {
	Info *types.Info
	// Decl returns the declaration of a function of the package, or nil.
	Decl func(*types.Func) *ast.FuncDecl
	// Step returns the replay wrapper of a step function, and whether fn is a step.
	Step func(fn *types.Func) (wrapper string, ok bool)

	// Fset locates declarations, to tell generated code read from export data.
	Fset *token.FileSet
	// Path is the package's import path.
	Path string
	// Generated returns the role of an identifier generated in this run for the package
	// at pkgPath (undefined while wfgen runs), and the workflow or step it is for.
	Generated func(pkgPath, name string) (role model.Role, fn string, ok bool)
	// Accessors holds the names of the handle accessors generated for this package's
	// events, topics and streams.
	Accessors map[string]bool
}

// Workflow checks the workflow declared by decl.
func (p *Package) Workflow(decl *ast.FuncDecl) []Finding {
	wf := decl.Name.Name
	var findings []Finding
	report := func(pos token.Pos, format string, args ...any) {
		findings = append(findings, Finding{pos, fmt.Sprintf(format, args...)})
	}
	seen := map[*ast.FuncDecl]bool{decl: true}
	queue := []*ast.FuncDecl{decl}
	for len(queue) > 0 {
		fd := queue[0]
		queue = queue[1:]
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				report(n.Go, "a goroutine in workflow %s: goroutines run in no fixed order, so the workflow's steps could run in another order when it replays; call steps from the workflow's goroutine, and do concurrent work inside a step", wf)
			case *ast.SelectStmt:
				report(n.Select, "select in workflow %s picks among ready cases at random, so the workflow can take another path when it replays; wait inside a step", wf)
			case *ast.RangeStmt:
				if t := p.Info.TypeOf(n.X); t != nil && isMap(t) && p.callsFunctions(n.Body) {
					report(n.For, "ranging over a map in workflow %s visits its keys in random order, so the calls in this loop happen in another order when the workflow replays; range over sorted keys (slices.Sorted(maps.Keys(m)))", wf)
				}
			case *ast.CallExpr:
				fn := p.callee(n)
				if msg := p.clientCall(n, fn); msg != "" {
					report(n.Pos(), msg, wf)
					break
				}
				if fn == nil {
					break
				}
				if msg := forbidden(fn); msg != "" {
					report(n.Pos(), "%s.%s in workflow %s %s", fn.Pkg().Name(), fn.Name(), wf, msg)
					break
				}
				if msg := ioCall(fn); msg != "" {
					report(n.Pos(), "%s in workflow %s %s", funcName(fn), wf, msg)
					break
				}
				if wrapper, ok := p.Step(fn); ok {
					report(n.Pos(), "workflow %s calls step %s directly, so it is not checkpointed and runs again on every replay; call %s(ctx, ...) instead", wf, fn.Name(), wrapper)
					break
				}
				if callee := p.Decl(fn); callee != nil && !seen[callee] {
					seen[callee] = true
					queue = append(queue, callee)
				}
			}
			return true
		})
	}
	return findings
}

func isMap(t types.Type) bool {
	_, ok := t.Underlying().(*types.Map)
	return ok
}

// forbidden says why calling fn in a workflow breaks replay, or returns "".
func forbidden(fn *types.Func) string {
	if fn.Pkg() == nil || fn.Signature().Recv() != nil {
		return ""
	}
	switch fn.Pkg().Path() {
	case "time":
		switch fn.Name() {
		case "Now", "Since", "Until":
			return "reads the clock, which says another time when the workflow replays; take the time in a step (a scheduled workflow has its wf.Tick)"
		}
	case "math/rand", "math/rand/v2", "crypto/rand":
		return "returns other values when the workflow replays; draw random values in a step"
	}
	return ""
}

// callee returns the function or method a call calls statically, or nil (a conversion, a
// builtin, a function value).
func (p *Package) callee(call *ast.CallExpr) *types.Func {
	fun := ast.Unparen(call.Fun)
	if ix, ok := fun.(*ast.IndexExpr); ok { // an explicit instantiation: f[T](...)
		fun = ix.X
	}
	if ix, ok := fun.(*ast.IndexListExpr); ok {
		fun = ix.X
	}
	var id *ast.Ident
	switch f := fun.(type) {
	case *ast.Ident:
		id = f
	case *ast.SelectorExpr:
		id = f.Sel
	default:
		return nil
	}
	fn, _ := p.Info.Uses[id].(*types.Func)
	if fn == nil {
		return nil
	}
	return fn.Origin()
}

// callsFunctions reports whether a loop body calls anything but builtins and conversions:
// a call that could be a step, or reach one.
func (p *Package) callsFunctions(body *ast.BlockStmt) bool {
	calls := false
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || calls {
			return !calls
		}
		tv, known := p.Info.Types[call.Fun]
		switch {
		case known && (tv.IsType() || tv.IsBuiltin()):
		default:
			calls = true // including calls of generated code, unknown while wfgen runs
		}
		return !calls
	})
	return calls
}

// funcName names a function as its callers write it: pkg.Func, or pkg.Type.Method.
func funcName(fn *types.Func) string {
	if r := fn.Signature().Recv(); r != nil {
		t := r.Type()
		if p, ok := t.(*types.Pointer); ok {
			t = p.Elem()
		}
		if n, ok := types.Unalias(t).(*types.Named); ok {
			return fn.Pkg().Name() + "." + n.Obj().Name() + "." + fn.Name()
		}
	}
	return fn.Pkg().Name() + "." + fn.Name()
}
