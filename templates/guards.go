package templates

import (
	"go/types"

	"github.com/dave/jennifer/jen"
)

// guards asserts the signature of every annotated function as this file expects it, so
// that a function changed without regenerating fails the build at a line that says why.
func (g *gen) guards() {
	var defs []jen.Code
	for _, w := range g.p.Workflows {
		params := []jen.Code{jen.Qual(wfPath, "Context")}
		if w.In != nil {
			params = append(params, g.typeCode(w.In))
		}
		defs = append(defs, jen.Id("_").Func().Params(params...).Add(g.results(w.Out)).Op("=").Id(w.Func))
	}
	for _, s := range g.p.Steps {
		var params []jen.Code
		fn := jen.Id(s.Func)
		if s.Recv != nil {
			// A method expression: the function takes the receiver first.
			params = append(params, jen.Op("*").Id(s.Recv.Type))
			fn = jen.Parens(jen.Op("*").Id(s.Recv.Type)).Dot(s.Func)
		}
		params = append(params, jen.Qual(contextPath, "Context"))
		if s.Tx {
			params = append(params, jen.Qual(pgxPath, "Tx"))
		}
		for i, p := range s.Params {
			if s.Variadic && i == len(s.Params)-1 {
				params = append(params, jen.Op("...").Add(g.elemType(p.Type)))
				continue
			}
			params = append(params, g.typeCode(p.Type))
		}
		defs = append(defs, jen.Id("_").Func().Params(params...).Add(g.results(s.Out)).Op("=").Add(fn))
	}
	g.doc("The annotated functions, with the signatures this file was generated for: when one changes, the build fails here. Run go generate again.")
	g.f.Var().Defs(defs...)
}

// results writes the results of a function that returns (out, error), or error when out
// is nil.
func (g *gen) results(out types.Type) *jen.Statement {
	if out == nil {
		return jen.Error()
	}
	return jen.Params(g.typeCode(out), jen.Error())
}

// elemType is the element type of a variadic parameter's slice type.
func (g *gen) elemType(t types.Type) *jen.Statement {
	return g.typeCode(t.(*types.Slice).Elem())
}
