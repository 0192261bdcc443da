package analyze

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"maps"
	"slices"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/wfgen/wfgen/internal/wfgen/directive"
	"github.com/wfgen/wfgen/internal/wfgen/model"
	"github.com/wfgen/wfgen/runtime/wf"
)

// A queue= option names a queue in one of two ways:
//
//   - by the Go identifier of a package-level *wf.Queue variable: Reports for one of the
//     annotated package, queues.Reports for one of a package the file imports. The generated
//     code reads the name from the variable (a renamed or deleted variable breaks the build),
//     and the package's Register registers another package's queue along with its workflows;
//   - by the queue's name. When the packages of the run declare queues in package-level
//     variables with wf.NewQueue and a constant name, the name must be one of theirs (or
//     wf.DefaultQueue): a typo would otherwise leave the queue undeclared, served with the
//     defaults, its limits silently dropped. When none declares any, names are not checked.
//
// An identifier wins over a name that is spelled the same.

// declaredQueues returns the constant names of the package-level queues a package declares
// with wf.NewQueue, by variable.
func declaredQueues(pkg *packages.Package) map[string]string {
	names := map[string]string{}
	if pkg.TypesInfo == nil {
		return names
	}
	for _, file := range pkg.Syntax {
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if len(vs.Values) != len(vs.Names) {
					continue
				}
				for i, id := range vs.Names {
					if name, ok := newQueueName(pkg.TypesInfo, vs.Values[i]); ok && id.Name != "_" {
						names[id.Name] = name
					}
				}
			}
		}
	}
	return names
}

// newQueueName returns the name a wf.NewQueue call declares, when it is a constant.
func newQueueName(info *types.Info, e ast.Expr) (string, bool) {
	call, ok := ast.Unparen(e).(*ast.CallExpr)
	if !ok || len(call.Args) == 0 {
		return "", false
	}
	var id *ast.Ident
	switch f := ast.Unparen(call.Fun).(type) {
	case *ast.SelectorExpr:
		id = f.Sel
	case *ast.Ident:
		id = f
	default:
		return "", false
	}
	fn, ok := info.Uses[id].(*types.Func)
	if !ok || fn.Pkg() == nil || fn.Pkg().Path() != wfPath || fn.Name() != "NewQueue" {
		return "", false
	}
	v := info.Types[call.Args[0]].Value
	if v == nil || v.Kind() != constant.String {
		return "", false
	}
	return constant.StringVal(v), true
}

// isQueueVar reports whether obj is a package-level variable of type *wf.Queue.
func isQueueVar(obj types.Object) bool {
	v, ok := obj.(*types.Var)
	if !ok || v.Parent() == nil || v.Parent() != v.Pkg().Scope() {
		return false
	}
	p, ok := v.Type().(*types.Pointer)
	return ok && isNamed(p.Elem(), wfPath, "Queue")
}

// queue resolves a queue= option of the function decl of pkg.
func (b *builder) queue(pkg *packages.Package, decl *ast.FuncDecl, o directive.Option) model.QueueRef {
	name := b.sink.name(o)
	if name == "" {
		return model.QueueRef{}
	}
	if !strings.Contains(name, ".") {
		if obj := pkg.Types.Scope().Lookup(name); obj != nil && isQueueVar(obj) {
			return model.QueueRef{Name: b.queueVars[pkg.PkgPath][name], Var: name}
		}
	} else if qual, sel, _ := strings.Cut(name, "."); token.IsIdentifier(qual) && token.IsIdentifier(sel) {
		if imported := importedAs(pkg, decl, qual); imported != nil {
			if obj := imported.Scope().Lookup(sel); obj != nil && obj.Exported() && isQueueVar(obj) {
				return model.QueueRef{Name: b.queueVars[imported.Path()][sel], Var: sel, Path: imported.Path(), PkgName: imported.Name()}
			}
			var vars []string
			for _, n := range imported.Scope().Names() {
				if obj := imported.Scope().Lookup(n); obj.Exported() && isQueueVar(obj) {
					vars = append(vars, n)
				}
			}
			if len(vars) > 0 {
				hint := ""
				if s := closest(sel, vars); s != "" {
					hint = fmt.Sprintf(": did you mean %s.%s?", qual, s)
				}
				b.sink.at(o.ValuePos, "queue %s: package %s declares no queue variable %s%s", name, imported.Path(), sel, hint)
				return model.QueueRef{}
			}
		} else if path, ok := b.queuePackages[qual]; ok && b.queueVars[path][sel] != "" {
			b.sink.at(o.ValuePos, "queue %s: this file does not import %s: import it (and use it: Go refuses unused imports), or name the queue by its name, %q", name, path, b.queueVars[path][sel])
			return model.QueueRef{}
		}
	}
	if name != wf.DefaultQueue && len(b.queueNames) > 0 && !slices.Contains(b.queueNames, name) {
		// Suggest a declared name, or an identifier of the package's queues.
		candidates := slices.Concat(b.queueNames, slices.Sorted(maps.Keys(b.queueVars[pkg.PkgPath])))
		if s := closest(name, candidates); s != "" {
			b.sink.at(o.ValuePos, "queue %q is not declared: did you mean %q?", name, s)
		} else {
			quoted := make([]string, len(b.queueNames))
			for i, n := range b.queueNames {
				quoted[i] = fmt.Sprintf("%q", n)
			}
			b.sink.at(o.ValuePos, "queue %q is not declared: name a declared queue (%s), or declare this one at package level with wf.NewQueue(%q)", name, strings.Join(quoted, ", "), name)
		}
	}
	return model.QueueRef{Name: name}
}

// importedAs returns the package that the file of decl imports under the name qual, or nil.
func importedAs(pkg *packages.Package, decl *ast.FuncDecl, qual string) *types.Package {
	for _, file := range pkg.Syntax {
		if decl.Pos() < file.FileStart || decl.Pos() >= file.FileEnd {
			continue
		}
		for _, spec := range file.Imports {
			if pn := pkg.TypesInfo.PkgNameOf(spec); pn != nil && pn.Name() == qual {
				return pn.Imported()
			}
		}
	}
	return nil
}

// runQueues records the queues the packages of a run declare, for the builder: their
// names by import path and variable, all their names, and the import paths of the
// packages that declare any, by package name (a name two such packages have is left out).
func runQueues(pkgs []*packages.Package) (vars map[string]map[string]string, names []string, byPkgName map[string]string) {
	vars = map[string]map[string]string{}
	byPkgName = map[string]string{}
	ambiguous := map[string]bool{}
	set := map[string]bool{}
	for _, pkg := range pkgs {
		vars[pkg.PkgPath] = declaredQueues(pkg)
		for _, name := range vars[pkg.PkgPath] {
			set[name] = true
		}
		if len(vars[pkg.PkgPath]) > 0 {
			if _, dup := byPkgName[pkg.Name]; dup {
				ambiguous[pkg.Name] = true
			}
			byPkgName[pkg.Name] = pkg.PkgPath
		}
	}
	for name := range ambiguous {
		delete(byPkgName, name)
	}
	return vars, slices.Sorted(maps.Keys(set)), byPkgName
}

// externalQueues returns the other packages' queue variables that workflows name, in order
// of first use, each once.
func externalQueues(ws []*model.Workflow) []model.QueueRef {
	var refs []model.QueueRef
	for _, w := range ws {
		for _, ref := range []model.QueueRef{w.Queue, scheduleQueue(w)} {
			if ref.Path != "" && !slices.Contains(refs, ref) {
				refs = append(refs, ref)
			}
		}
	}
	return refs
}

func scheduleQueue(w *model.Workflow) model.QueueRef {
	if w.Schedule == nil {
		return model.QueueRef{}
	}
	return w.Schedule.Queue
}
