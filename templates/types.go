package templates

import (
	"fmt"
	"go/types"
	"strings"

	"github.com/dave/jennifer/jen"
)

// typeCode renders a type as the user's code spells it: named types (and aliases) by
// name, qualified by their package unless it is the generated file's own. Every package
// it qualifies with is registered with the file under the name go/packages reported for
// it, so that jennifer does not invent aliases.
func (g *gen) typeCode(t types.Type) *jen.Statement {
	switch t := t.(type) {
	case *types.Alias:
		return g.objCode(t.Obj(), t.TypeArgs())
	case *types.Named:
		return g.objCode(t.Obj(), t.TypeArgs())
	case *types.Basic:
		if t.Kind() == types.UnsafePointer {
			return jen.Qual(unsafePath, "Pointer")
		}
		return jen.Id(t.Name())
	case *types.Pointer:
		return jen.Op("*").Add(g.typeCode(t.Elem()))
	case *types.Slice:
		return jen.Index().Add(g.typeCode(t.Elem()))
	case *types.Array:
		return jen.Index(jen.Lit(int(t.Len()))).Add(g.typeCode(t.Elem()))
	case *types.Map:
		return jen.Map(g.typeCode(t.Key())).Add(g.typeCode(t.Elem()))
	case *types.Chan:
		switch t.Dir() {
		case types.SendOnly:
			return jen.Chan().Op("<-").Add(g.typeCode(t.Elem()))
		case types.RecvOnly:
			return jen.Op("<-").Chan().Add(g.typeCode(t.Elem()))
		}
		return jen.Chan().Add(g.typeCode(t.Elem()))
	case *types.Signature:
		return jen.Func().Params(g.tupleCode(t.Params(), t.Variadic())...).Params(g.tupleCode(t.Results(), false)...)
	case *types.Struct:
		fields := make([]jen.Code, t.NumFields())
		for i := range t.NumFields() {
			f := t.Field(i)
			field := g.typeCode(f.Type())
			if !f.Embedded() {
				field = jen.Id(f.Name()).Add(field)
			}
			if tag := t.Tag(i); tag != "" {
				field.Add(tagCode(tag))
			}
			fields[i] = field
		}
		return jen.Struct(fields...)
	case *types.Interface:
		var elems []jen.Code
		for i := range t.NumEmbeddeds() {
			elems = append(elems, g.typeCode(t.EmbeddedType(i)))
		}
		for i := range t.NumExplicitMethods() {
			m := t.ExplicitMethod(i)
			sig := m.Signature()
			elems = append(elems, jen.Id(m.Name()).Params(g.tupleCode(sig.Params(), sig.Variadic())...).Params(g.tupleCode(sig.Results(), false)...))
		}
		return jen.Interface(elems...)
	}
	// Type parameters, tuples and unions cannot be the type of a parameter or result of
	// the functions the analyzer accepts.
	panic(fmt.Sprintf("templates: unexpected type %T (%s)", t, t))
}

func (g *gen) objCode(obj *types.TypeName, args *types.TypeList) *jen.Statement {
	var s *jen.Statement
	if obj.Pkg() == nil { // error, any, comparable
		s = jen.Id(obj.Name())
	} else {
		g.f.ImportName(obj.Pkg().Path(), obj.Pkg().Name())
		s = jen.Qual(obj.Pkg().Path(), obj.Name())
	}
	if args.Len() > 0 {
		codes := make([]jen.Code, args.Len())
		for i := range args.Len() {
			codes[i] = g.typeCode(args.At(i))
		}
		s.Types(codes...)
	}
	return s
}

func (g *gen) tupleCode(t *types.Tuple, variadic bool) []jen.Code {
	codes := make([]jen.Code, t.Len())
	for i := range t.Len() {
		if variadic && i == t.Len()-1 {
			codes[i] = jen.Op("...").Add(g.typeCode(t.At(i).Type().(*types.Slice).Elem()))
			continue
		}
		codes[i] = g.typeCode(t.At(i).Type())
	}
	return codes
}

// tagCode writes a struct tag exactly (tags are part of a struct type's identity), as a
// raw string when it can be one.
func tagCode(tag string) jen.Code {
	if strings.Contains(tag, "`") {
		return jen.Lit(tag)
	}
	return jen.Op("`" + tag + "`")
}
