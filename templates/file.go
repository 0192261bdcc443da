// Package templates renders wf_gen.go from the model of an annotated package, with
// jennifer. Each artifact has its file: guards.go (compile-time signature guards),
// steps.go (step definitions and replay wrappers), workflows.go (workflow definitions),
// schedules.go, clients.go (typed enqueue, start, lookup and handles) and register.go.
//
// Rendering is a pure function of the model: the same model renders the same bytes.
package templates

import (
	"bytes"
	"fmt"
	"go/types"
	"strings"
	"time"

	"github.com/dave/jennifer/jen"
	"golang.org/x/tools/imports"

	"github.com/wfgen/wfgen/internal/wfgen/load"
	"github.com/wfgen/wfgen/internal/wfgen/model"
)

// Render returns the gofmt'd wf_gen.go of a package.
func Render(p *model.Package) ([]byte, error) {
	src, err := Source(p)
	if err != nil {
		return nil, err
	}
	return Format(src)
}

// Format gofmts rendered source, with its imports in two groups as goimports writes them:
// the standard library's, then the others.
func Format(src []byte) ([]byte, error) {
	out, err := imports.Process("wf_gen.go", src, &imports.Options{FormatOnly: true, Comments: true, TabIndent: true, TabWidth: 8})
	if err != nil {
		return nil, fmt.Errorf("formatting generated code (a bug in wfgen's templates): %w", err)
	}
	return out, nil
}

// Source returns the wf_gen.go of a package before gofmt.
func Source(p *model.Package) ([]byte, error) {
	g := &gen{f: jen.NewFilePathName(p.Path, p.Name), p: p}
	g.f.NoFormat = true // Render formats: one pass, and one place to time it.
	g.f.HeaderComment(strings.TrimPrefix(load.Header, "// "))
	for path, name := range importNames {
		g.f.ImportName(path, name)
	}
	for _, q := range p.QueueRefs {
		g.f.ImportName(q.Path, q.PkgName)
	}
	g.guards()
	g.nameConsts()
	g.stepDefinitions()
	g.definitions()
	g.register()
	for _, w := range p.Workflows {
		g.client(w)
	}
	for _, s := range p.Steps {
		g.wrapper(s)
	}
	var buf bytes.Buffer
	if err := g.f.Render(&buf); err != nil {
		return nil, fmt.Errorf("rendering %s for %s: %w", model.GeneratedFile, p.Path, err)
	}
	return buf.Bytes(), nil
}

// gen renders one file.
type gen struct {
	f *jen.File
	p *model.Package
}

// doc adds a doc comment, wrapped, to what is rendered next. Paragraphs are separated by
// blank lines in text.
func (g *gen) doc(format string, args ...any) {
	for _, line := range docLines(fmt.Sprintf(format, args...)) {
		g.f.Comment(line)
	}
}

// docLines wraps text into comment lines of at most 90 columns.
func docLines(text string) []string {
	const width = 90 - len("// ")
	var lines []string
	for i, para := range strings.Split(text, "\n\n") {
		if i > 0 {
			lines = append(lines, "//") // rendered verbatim: an empty comment line
		}
		line := ""
		for _, word := range strings.Fields(para) {
			if line != "" && len(line)+1+len(word) > width {
				lines = append(lines, line)
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += word
		}
		lines = append(lines, line)
	}
	return lines
}

// durationCode writes a duration in the largest unit that divides it: 90*time.Second,
// time.Hour.
func durationCode(d time.Duration) jen.Code {
	if d == 0 {
		return jen.Lit(0)
	}
	units := []struct {
		size time.Duration
		name string
	}{
		{time.Hour, "Hour"}, {time.Minute, "Minute"}, {time.Second, "Second"},
		{time.Millisecond, "Millisecond"}, {time.Microsecond, "Microsecond"},
	}
	for _, u := range units {
		if d%u.size == 0 {
			if d == u.size {
				return jen.Qual(timePath, u.name)
			}
			return jen.Lit(int(d/u.size)).Op("*").Qual(timePath, u.name)
		}
	}
	return jen.Lit(int(d)).Op("*").Qual(timePath, "Nanosecond")
}

// runtimeType is the type the runtime sees for an input or output the function may not
// have: struct{} when it has none.
func (g *gen) runtimeType(t types.Type) *jen.Statement {
	if t == nil {
		return jen.Struct()
	}
	return g.typeCode(t)
}
