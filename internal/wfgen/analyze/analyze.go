// Package analyze turns loaded packages into models for the templates. It finds the //wf:
// annotations and the package-level queues, events, topics and streams, validates them
// against go/types (signatures, JSON-encodable types, options, cron specs, duplicate and
// colliding names), computes code hashes and step counts, runs the replay checks on
// workflow bodies (minus the calls a //wf:allow comment covers), and reports every
// mistake it finds, each at the position it is about.
package analyze

import (
	"cmp"
	"fmt"
	"go/ast"
	"go/token"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/tools/go/packages"

	"github.com/wfgen/wfgen/internal/wfgen/diag"
	"github.com/wfgen/wfgen/internal/wfgen/directive"
	"github.com/wfgen/wfgen/internal/wfgen/load"
	"github.com/wfgen/wfgen/internal/wfgen/model"
)

// Import paths of the types signatures are checked against.
const (
	wfPath      = "github.com/wfgen/wfgen/runtime/wf"
	contextPath = "context"
)

// Package is the analysis of one loaded package.
type Package struct {
	Path string
	Dir  string
	// Model is what to generate; nil when the package has no annotations.
	Model *model.Package
	// Broken is set when the package does not build, so it was not analyzed: neither
	// write nor remove its wf_gen.go. The problem is among the diagnostics when it
	// matters (the package has annotations or a wf_gen.go).
	Broken bool
	// Stale is set when the directory holds a wf_gen.go that wfgen wrote.
	Stale bool
}

// Result is the analysis of a run.
type Result struct {
	Packages []*Package
	Diags    diag.List
}

// annotated is a function with //wf: annotations.
type annotated struct {
	decl *ast.FuncDecl
	pos  token.Position
	dirs map[string]directive.Directive // by kind
}

func (a *annotated) isStep() bool { _, ok := a.dirs[kindStep]; return ok }

// Packages analyzes loaded packages. Diagnostics of all packages are collected in the
// result; a package that does not build is described by its Problem instead.
func Packages(fset *token.FileSet, pkgs []*packages.Package) *Result {
	r := &Result{}
	sink := &diagSink{fset: fset, add: r.Diags.Addf}
	found := make([][]*annotated, len(pkgs))
	allowed := make([]allowances, len(pkgs))
	generated := map[string]bool{}
	roles := map[string]generatedRole{} // by "import path.name"
	for i, pkg := range pkgs {
		found[i], allowed[i] = scan(sink, pkg)
		for _, a := range found[i] {
			for name, role := range model.Roles(a.isStep(), a.decl.Name.Name) {
				generated[name] = true
				roles[pkg.PkgPath+"."+name] = generatedRole{role, a.decl.Name.Name}
			}
		}
		if len(found[i]) > 0 {
			generated[model.RegisterFunc] = true
		}
	}
	b := &builder{sink: sink, names: map[string]string{}, roles: roles}
	b.queueVars, b.queueNames, b.queuePackages = runQueues(pkgs)
	for i, pkg := range pkgs {
		p := &Package{Path: pkg.PkgPath, Dir: load.Dir(pkg)}
		p.Stale = hasGenerated(p.Dir)
		r.Packages = append(r.Packages, p)
		if problems := load.Problems(pkg, func(name string) bool { return generated[name] }); len(problems) > 0 {
			p.Broken = true
			if len(found[i]) > 0 || p.Stale || len(pkg.GoFiles) == 0 {
				d := load.Describe(pkg, problems)
				r.Diags.Addf(d.Pos, "%s", d.Msg)
			}
			continue
		}
		if len(found[i]) > 0 {
			p.Model = b.build(pkg, p.Dir, found[i], allowed[i])
		}
	}
	return r
}

// hasGenerated reports whether dir holds a wf_gen.go written by wfgen.
func hasGenerated(dir string) bool {
	path := filepath.Join(dir, model.GeneratedFile)
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(load.Header)+1)
	n, _ := f.Read(head)
	return load.IsGenerated(path, head[:n])
}

// generatedRole is what an identifier generated in this run is for.
type generatedRole struct {
	role model.Role
	fn   string // the annotated function it is generated for
}

// scan finds the annotated functions of a package and reports annotations anywhere else.
// It also collects the package's //wf:allow comments.
func scan(sink *diagSink, pkg *packages.Package) ([]*annotated, allowances) {
	var found []*annotated
	allowed := allowances{}
	for _, file := range pkg.Syntax {
		places := commentPlaces(file)
		for _, group := range file.Comments {
			var dirs []directive.Directive
			for _, c := range group.List {
				if !directive.Is(c) {
					continue
				}
				if reason, ok := directive.Allow(c); ok {
					pos := sink.fset.Position(c.Slash)
					if reason == "" {
						sink.at(c.Slash, "//wf:allow needs a reason: write //wf:allow followed by why this call is safe when the workflow replays")
						continue
					}
					allowed.add(pos)
					continue
				}
				d, errs := directive.Parse(c)
				for _, e := range errs {
					sink.at(e.Pos, "%s", e.Msg)
				}
				dirs = append(dirs, d)
			}
			if len(dirs) == 0 {
				continue
			}
			fd, isFunc := places[group].(*ast.FuncDecl)
			if !isFunc {
				for _, d := range dirs {
					sink.at(d.Pos, "//wf:%s %s: annotations belong in the doc comment of a package-level function", d.Kind, describePlace(places[group]))
				}
				continue
			}
			if fd.Recv != nil && slices.ContainsFunc(dirs, func(d directive.Directive) bool { return d.Kind != kindStep }) {
				// Steps may be methods: Register takes their receiver. Workflows replay, so
				// they must not depend on anything a receiver could hold.
				for _, d := range dirs {
					if d.Kind != kindStep {
						sink.at(d.Pos, "//wf:%s on method %s: workflows are package-level functions; only steps may be methods (Register takes their receiver)", d.Kind, fd.Name.Name)
					}
				}
				continue
			}
			a := &annotated{decl: fd, pos: sink.fset.Position(fd.Pos()), dirs: map[string]directive.Directive{}}
			for _, d := range dirs {
				if _, known := knownOptions[d.Kind]; !known {
					if d.Kind != "" {
						sink.at(d.Pos, "unknown annotation //wf:%s: use //wf:workflow, //wf:step or //wf:scheduled", d.Kind)
					}
					continue
				}
				if _, dup := a.dirs[d.Kind]; dup {
					sink.at(d.Pos, "//wf:%s given twice for %s", d.Kind, fd.Name.Name)
					continue
				}
				a.dirs[d.Kind] = sink.checkKnown(d)
			}
			_, workflow := a.dirs[kindWorkflow]
			_, scheduled := a.dirs[kindScheduled]
			if a.isStep() && (workflow || scheduled) {
				sink.at(a.dirs[kindStep].Pos, "%s is annotated both as a step and as a workflow: a function is one or the other", fd.Name.Name)
				continue
			}
			if len(a.dirs) > 0 {
				found = append(found, a)
			}
		}
	}
	slices.SortFunc(found, func(a, b *annotated) int { return comparePos(a.pos, b.pos) })
	return found, allowed
}

// allowances are the lines a //wf:allow comment covers: its own and the next, by file.
type allowances map[string]map[int]bool

func (a allowances) add(pos token.Position) {
	if a[pos.Filename] == nil {
		a[pos.Filename] = map[int]bool{}
	}
	a[pos.Filename][pos.Line] = true
}

// covers reports whether a //wf:allow comment is on the line of pos or the line before.
func (a allowances) covers(pos token.Position) bool {
	lines := a[pos.Filename]
	return lines[pos.Line] || lines[pos.Line-1]
}

func comparePos(a, b token.Position) int {
	return cmp.Or(cmp.Compare(a.Filename, b.Filename), cmp.Compare(a.Offset, b.Offset))
}

// commentPlaces maps the doc comments of a file to the declarations they document.
func commentPlaces(file *ast.File) map[*ast.CommentGroup]ast.Node {
	places := map[*ast.CommentGroup]ast.Node{}
	ast.Inspect(file, func(n ast.Node) bool {
		var doc *ast.CommentGroup
		switch n := n.(type) {
		case *ast.FuncDecl:
			doc = n.Doc
		case *ast.GenDecl:
			doc = n.Doc
		case *ast.TypeSpec:
			doc = n.Doc
		case *ast.ValueSpec:
			doc = n.Doc
		case *ast.Field:
			doc = n.Doc
		case *ast.ImportSpec:
			doc = n.Doc
		}
		if doc != nil {
			places[doc] = n
		}
		return true
	})
	return places
}

func describePlace(n ast.Node) string {
	switch n := n.(type) {
	case *ast.FuncDecl:
		return fmt.Sprintf("on method %s", n.Name.Name)
	case *ast.GenDecl:
		return fmt.Sprintf("on a %s declaration", n.Tok)
	case *ast.TypeSpec:
		return fmt.Sprintf("on type %s", n.Name.Name)
	case *ast.ValueSpec:
		return "on a variable or constant"
	case *ast.Field:
		return "on a field"
	case *ast.ImportSpec:
		return "on an import"
	}
	return "is not in a doc comment (a blank line between a comment and a function detaches it)"
}
