// Package codehash computes a workflow's code hash (DESIGN.md §4): a digest of the code that
// decides which steps the workflow calls, in which order, with which outputs. A worker
// resumes a workflow only when its registered hash matches the one the workflow started
// under, so the hash must change whenever replaying an old history could go wrong, and
// should not change otherwise.
//
// What goes in:
//   - the workflow function's signature and body;
//   - the bodies of the functions and methods of the same package that it calls, directly
//     or through each other: they run inside the workflow, replayed with it;
//   - for the steps it calls through their generated wrappers, the step's registered name
//     and signature (a renamed step or a changed output type breaks replay), and the
//     signatures of same-package functions whose bodies stay out (steps called directly);
//   - the values of the constants it uses;
//   - the full names of the functions of other packages it calls.
//
// What stays out: comments and layout (code is hashed as a syntax tree, not as text), the
// bodies of steps (a replay returns their recorded outputs without running them), every
// function the workflow does not reach, and the signatures of other packages' functions:
// those packages are read from export data in one run and from source in another (when
// they are loaded too), and the hash must not depend on which packages a run loads. A
// changed signature that matters changes the calling body anyway.
package codehash

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"io"
	"reflect"
	"slices"
	"strconv"
)

// Size is the length of a code hash in hex digits.
const Size = 16

// Package holds what hashing needs to know about the package the workflows are in.
type Package struct {
	Types *types.Package
	Info  *types.Info
	// Decls maps the package's functions and methods to their declarations.
	Decls map[*types.Func]*ast.FuncDecl
	// Opaque reports functions whose bodies never run during a replay (steps): they
	// contribute their signature only.
	Opaque func(*types.Func) bool
	// Generated describes an identifier that refers to generated code, which is absent
	// while wfgen runs (such identifiers are undefined): for a step wrapper, the step's
	// name and signature. ok is false for any other identifier.
	Generated func(name string) (desc string, ok bool)
}

// NewPackage indexes the function declarations of a type-checked package.
func NewPackage(pkg *types.Package, info *types.Info, files []*ast.File, opaque func(*types.Func) bool, generated func(string) (string, bool)) *Package {
	p := &Package{Types: pkg, Info: info, Decls: map[*types.Func]*ast.FuncDecl{}, Opaque: opaque, Generated: generated}
	for _, f := range files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
				if fn, ok := info.Defs[fd.Name].(*types.Func); ok {
					p.Decls[fn] = fd
				}
			}
		}
	}
	return p
}

// Workflow returns the code hash of the workflow declared by decl.
func (p *Package) Workflow(decl *ast.FuncDecl) string {
	h := sha256.New()
	var refs []string
	seen := map[*ast.FuncDecl]bool{decl: true}
	queue := []*ast.FuncDecl{decl}
	for len(queue) > 0 {
		fd := queue[0]
		queue = queue[1:]
		// The workflow's own name is not part of its code: renaming the function (its
		// registered name is separate) replays the same history.
		if fd != decl {
			fmt.Fprintf(h, "func %s\n", p.Info.Defs[fd.Name].(*types.Func).FullName())
		}
		if fd.Recv != nil {
			encode(h, reflect.ValueOf(fd.Recv))
		}
		encode(h, reflect.ValueOf(fd.Type))
		encode(h, reflect.ValueOf(fd.Body))
		h.Write([]byte{'\n'})

		var callees []*ast.FuncDecl
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				// pkg.Name: another package's function or constant, or generated code
				// of another package loaded in this run (then undefined).
				if x, ok := n.X.(*ast.Ident); ok {
					if pn, ok := p.Info.Uses[x].(*types.PkgName); ok {
						switch obj := p.Info.Uses[n.Sel].(type) {
						case *types.Const:
							refs = append(refs, constRef(obj))
						default:
							refs = append(refs, pn.Imported().Path()+"."+n.Sel.Name)
						}
						return false
					}
				}
			case *ast.Ident:
				switch obj := p.Info.Uses[n].(type) {
				case nil:
					if desc, ok := p.Generated(n.Name); ok && p.Info.Defs[n] == nil {
						refs = append(refs, desc)
					}
				case *types.Const:
					if obj.Pkg() != nil { // not true, false or iota
						refs = append(refs, constRef(obj))
					}
				case *types.Func:
					fn := obj.Origin()
					if fn.Pkg() != p.Types {
						refs = append(refs, fn.FullName()) // a method of another package's type
						break
					}
					if callee := p.Decls[fn]; callee != nil && !p.Opaque(fn) {
						if !seen[callee] {
							seen[callee] = true
							callees = append(callees, callee)
						}
						break
					}
					refs = append(refs, fn.FullName()+" "+Signature(fn.Signature(), p.Types))
				}
			}
			return true
		})
		queue = append(queue, callees...)
	}
	slices.Sort(refs)
	for _, r := range slices.Compact(refs) {
		fmt.Fprintf(h, "ref %s\n", r)
	}
	return hex.EncodeToString(h.Sum(nil))[:Size]
}

// Signature writes a signature's types without parameter names (which replay does not
// care about), types of other packages qualified by import path (not by the import's
// name, which is a file's choice).
func Signature(sig *types.Signature, pkg *types.Package) string {
	return types.TypeString(types.NewSignatureType(nil, nil, nil, unnamed(sig.Params()), unnamed(sig.Results()), sig.Variadic()), qualifier(pkg))
}

func unnamed(t *types.Tuple) *types.Tuple {
	vars := make([]*types.Var, t.Len())
	for i := range vars {
		vars[i] = types.NewParam(token.NoPos, nil, "", t.At(i).Type())
	}
	return types.NewTuple(vars...)
}

func qualifier(pkg *types.Package) types.Qualifier {
	return func(p *types.Package) string {
		if p == pkg {
			return ""
		}
		return p.Path()
	}
}

func constRef(c *types.Const) string {
	return "const " + c.Pkg().Path() + "." + c.Name() + " = " + c.Val().ExactString()
}

var (
	posType          = reflect.TypeFor[token.Pos]()
	tokenType        = reflect.TypeFor[token.Token]()
	commentGroupType = reflect.TypeFor[*ast.CommentGroup]()
	objectType       = reflect.TypeFor[*ast.Object]()
	scopeType        = reflect.TypeFor[*ast.Scope]()
)

// encode writes a syntax tree without positions and comments: two trees that differ only
// in layout or comments encode the same, and any other difference (an operator, a
// literal, a name, a branch) encodes differently. Fields are written with their names and
// only when set, so that a field a later Go release adds to go/ast (as TypeParams was)
// leaves the hashes of code that does not use it unchanged: an upgrade of Go must not
// strand running workflows.
func encode(w io.Writer, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			io.WriteString(w, "nil")
			return
		}
		if v.Kind() == reflect.Pointer {
			io.WriteString(w, v.Type().Elem().Name())
		}
		encode(w, v.Elem())
	case reflect.Struct:
		io.WriteString(w, "{")
		for i := range v.NumField() {
			f := v.Field(i)
			switch f.Type() {
			case posType, commentGroupType, objectType, scopeType:
				continue
			}
			if f.IsZero() || f.Kind() == reflect.Slice && f.Len() == 0 {
				continue
			}
			io.WriteString(w, v.Type().Field(i).Name+":")
			encode(w, f)
			io.WriteString(w, ",")
		}
		io.WriteString(w, "}")
	case reflect.Slice:
		fmt.Fprintf(w, "[%d:", v.Len())
		for i := range v.Len() {
			encode(w, v.Index(i))
			io.WriteString(w, ",")
		}
		io.WriteString(w, "]")
	case reflect.String:
		io.WriteString(w, strconv.Quote(v.String()))
	case reflect.Int:
		if v.Type() == tokenType {
			io.WriteString(w, token.Token(v.Int()).String())
			return
		}
		io.WriteString(w, strconv.FormatInt(v.Int(), 10))
	case reflect.Bool:
		io.WriteString(w, strconv.FormatBool(v.Bool()))
	default:
		// go/ast has no other kinds of fields; a new one would be hashed by its value.
		fmt.Fprintf(w, "%v", v.Interface())
	}
}
