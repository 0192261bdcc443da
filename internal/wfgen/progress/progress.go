// Package progress counts the step IDs a workflow's successful run consumes, when its body
// fixes that number, so that the runtime can report a run's progress as "step 3 of 7".
//
// Every call that consumes step IDs counts: a generated step wrapper (SStep), child call
// (EnqueueChildF, StartChildF, EnqueueChildrenF) or handle's Await, wf.Sleep, Event.Set,
// Topic.SendFromWorkflow, Topic.SendManyFromWorkflow, Stream.Append and Stream.Close one
// each, Topic.Recv two.
//
// The count is static, and given, only when the body is a straight line of such calls:
//   - each of them is in a statement of the function body's own list (an expression,
//     assignment, declaration or return statement), or in the initializer or condition
//     of an if statement of that list; not in the branches of an if, nor in a loop,
//     switch, select, block, defer, go statement or function literal, nor on the right
//     of && or ||;
//   - no return statement comes before the last of them but in the body of an error
//     check: an if statement whose condition is "err != nil" for an error err (these end
//     the run as failed, and a failed run's progress does not matter);
//   - no other call takes a wf.Context (a helper of the package could consume step IDs
//     in ways the count would miss), and there is no goto.
//
// Otherwise the count is 0: unknown. Being conservative is what makes it correct: when a
// count is given, every successful run consumes exactly that many step IDs.
package progress

import (
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"

	"github.com/wfgen/wfgen/internal/wfgen/model"
)

const wfPath = "github.com/wfgen/wfgen/runtime/wf"

// Package is what counting needs to know about the workflow's package.
type Package struct {
	Info *types.Info
	Fset *token.FileSet
	Path string
	// Generated returns the role of an identifier generated in this run for the package
	// at pkgPath, which is undefined while wfgen runs.
	Generated func(pkgPath, name string) (model.Role, bool)
}

// Count returns the number of step IDs every successful run of the workflow declared by
// decl consumes, or 0 when its body does not fix it.
func (p *Package) Count(decl *ast.FuncDecl) int {
	c := &counter{p: p}
stmts:
	for _, st := range decl.Body.List {
		switch st := st.(type) {
		case *ast.ReturnStmt:
			c.scan(st, false)
			break stmts // what follows never runs
		case *ast.ExprStmt, *ast.AssignStmt, *ast.DeclStmt, *ast.IncDecStmt, *ast.EmptyStmt:
			c.scan(st, false)
		case *ast.IfStmt:
			if st.Init != nil {
				c.scan(st.Init, false)
			}
			c.scan(st.Cond, false)
			c.errCheck = p.isErrCheck(st)
			c.scan(st.Body, true)
			if st.Else != nil {
				c.errCheck = false
				c.scan(st.Else, true)
			}
			c.errCheck = false
		default:
			c.scan(st, true)
		}
	}
	if c.dynamic {
		return 0
	}
	for _, r := range c.returns {
		if r < c.last {
			return 0
		}
	}
	return c.n
}

type counter struct {
	p        *Package
	n        int
	last     token.Pos   // of the last counted call
	returns  []token.Pos // of returns that end a successful run early
	errCheck bool        // scanning the body of an error check
	dynamic  bool
}

// scan counts the calls of node; conditional says whether node runs on some paths only.
func (c *counter) scan(node ast.Node, conditional bool) {
	ast.Inspect(node, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			// A closure may run any number of times: its calls are conditional, and its
			// returns are its own.
			ast.Inspect(n.Body, func(m ast.Node) bool {
				if call, ok := m.(*ast.CallExpr); ok {
					c.call(call, true)
				}
				return true
			})
			return false
		case *ast.BinaryExpr:
			if n.Op == token.LAND || n.Op == token.LOR {
				c.scan(n.X, conditional)
				c.scan(n.Y, true)
				return false
			}
		case *ast.IfStmt:
			if c.errCheck || !c.p.isErrCheck(n) {
				break
			}
			// An error check inside a branch or loop: its returns end a failed run.
			if n.Init != nil {
				c.scan(n.Init, conditional)
			}
			c.scan(n.Cond, conditional)
			c.errCheck = true
			c.scan(n.Body, true)
			c.errCheck = false
			if n.Else != nil {
				c.scan(n.Else, true)
			}
			return false
		case *ast.ReturnStmt:
			if conditional && !c.errCheck {
				c.returns = append(c.returns, n.Pos())
			}
		case *ast.BranchStmt:
			if n.Tok == token.GOTO {
				c.dynamic = true
			}
		case *ast.DeferStmt, *ast.GoStmt:
			conditional = true
		case *ast.CallExpr:
			c.call(n, conditional)
		}
		return true
	})
}

func (c *counter) call(call *ast.CallExpr, conditional bool) {
	ids, known := c.p.stepIDs(call)
	switch {
	case !known:
		c.dynamic = true
	case ids > 0 && conditional:
		c.dynamic = true
	case ids > 0:
		c.n += ids
		c.last = max(c.last, call.Pos())
	}
}

// stepIDs returns how many step IDs a call consumes; known is false for a call that may
// consume some, but how many is not known here.
func (p *Package) stepIDs(call *ast.CallExpr) (ids int, known bool) {
	fun := ast.Unparen(call.Fun)
	if ix, ok := fun.(*ast.IndexExpr); ok {
		fun = ix.X
	}
	if ix, ok := fun.(*ast.IndexListExpr); ok {
		fun = ix.X
	}
	var sel *ast.Ident
	switch f := fun.(type) {
	case *ast.Ident:
		sel = f
		if p.Info.Uses[f] == nil && p.Info.Defs[f] == nil {
			return p.generated(p.Path, f.Name), true
		}
	case *ast.SelectorExpr:
		sel = f.Sel
		if p.Info.Uses[f.Sel] == nil {
			if x, ok := f.X.(*ast.Ident); ok {
				if pn, ok := p.Info.Uses[x].(*types.PkgName); ok {
					return p.generated(pn.Imported().Path(), f.Sel.Name), true
				}
			}
			// A method of a generated handle, whose type is unknown while wfgen runs.
			if f.Sel.Name == "Await" {
				return 1, true
			}
			return 0, true
		}
	}
	if sel != nil {
		if fn, ok := p.Info.Uses[sel].(*types.Func); ok {
			fn = fn.Origin()
			if n := runtimeStepIDs(fn); n > 0 {
				return n, true
			}
			if takesWorkflowContext(fn.Signature()) {
				// Generated code of a package this run did not load: its workflow-side
				// functions and Await consume one step ID each.
				if p.Fset != nil && filepath.Base(p.Fset.Position(fn.Pos()).Filename) == model.GeneratedFile {
					return 1, true
				}
				return 0, false
			}
			return 0, true
		}
	}
	if sig, ok := p.Info.TypeOf(call.Fun).(*types.Signature); ok && takesWorkflowContext(sig) {
		return 0, false // a function value that gets the workflow's context
	}
	return 0, true
}

func (p *Package) generated(pkgPath, name string) int {
	if p.Generated == nil {
		return 0
	}
	if role, ok := p.Generated(pkgPath, name); ok && role.WorkflowSide() {
		return 1
	}
	return 0
}

// runtimeStepIDs is the number of step IDs a function of the runtime consumes.
func runtimeStepIDs(fn *types.Func) int {
	if fn.Pkg() == nil || fn.Pkg().Path() != wfPath {
		return 0
	}
	recv := ""
	if r := fn.Signature().Recv(); r != nil {
		t := r.Type()
		if ptr, ok := t.(*types.Pointer); ok {
			t = ptr.Elem()
		}
		if n, ok := types.Unalias(t).(*types.Named); ok {
			recv = n.Obj().Name()
		}
	}
	switch recv + "." + fn.Name() {
	case ".Sleep", "Event.Set", "Topic.SendFromWorkflow", "Topic.SendManyFromWorkflow", "Stream.Append", "Stream.Close",
		"Workflow.EnqueueChild", "Workflow.StartChild", "Workflow.EnqueueChildren", "Handle.Await", ".AwaitAll":
		return 1
	case "Topic.Recv":
		return 2
	}
	return 0
}

func takesWorkflowContext(sig *types.Signature) bool {
	for i := range sig.Params().Len() {
		if n, ok := types.Unalias(sig.Params().At(i).Type()).(*types.Named); ok &&
			n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == wfPath && n.Obj().Name() == "Context" {
			return true
		}
	}
	return false
}

// isErrCheck reports whether an if statement checks an error: "if err != nil" (or
// "nil != err") where err is an error, or a value of generated code, whose type is
// unknown while wfgen runs.
func (p *Package) isErrCheck(st *ast.IfStmt) bool {
	b, ok := st.Cond.(*ast.BinaryExpr)
	if !ok || b.Op != token.NEQ {
		return false
	}
	x, y := b.X, b.Y
	if isNil(x) {
		x, y = y, x
	}
	if !isNil(y) {
		return false
	}
	id, ok := x.(*ast.Ident)
	if !ok {
		return false
	}
	t := p.Info.TypeOf(id)
	if t == nil {
		return true
	}
	if basic, ok := t.(*types.Basic); ok && basic.Kind() == types.Invalid {
		return true
	}
	return types.Identical(t, types.Universe.Lookup("error").Type())
}

func isNil(e ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == "nil"
}
