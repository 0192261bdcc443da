package templates

import (
	"fmt"

	"github.com/dave/jennifer/jen"

	"github.com/wfgen/wfgen/internal/wfgen/model"
)

// stepDefinitions declares a *wf.Step per annotated step, with its name and retry policy.
func (g *gen) stepDefinitions() {
	if len(g.p.Steps) == 0 {
		return
	}
	defs := make([]jen.Code, len(g.p.Steps))
	for i, s := range g.p.Steps {
		var opts []jen.Code
		if s.MaxAttempts > 0 {
			opts = append(opts, jen.Qual(wfPath, "MaxAttempts").Call(jen.Lit(s.MaxAttempts)))
		}
		if s.Backoff != nil {
			opts = append(opts, jen.Qual(wfPath, "Backoff").Call(durationCode(*s.Backoff)))
		}
		if s.Factor > 0 {
			opts = append(opts, jen.Qual(wfPath, "BackoffFactor").Call(jen.Lit(s.Factor)))
		}
		if s.MaxBackoff > 0 {
			opts = append(opts, jen.Qual(wfPath, "MaxBackoff").Call(durationCode(s.MaxBackoff)))
		}
		opts = append(opts, retryOptions(s)...)
		if s.Timeout > 0 {
			opts = append(opts, jen.Qual(wfPath, "StepTimeout").Call(durationCode(s.Timeout)))
		}
		defs[i] = jen.Id(s.DefVar()).Op("=").Qual(wfPath, "NewStep").Types(g.runtimeType(s.Out)).Call(append([]jen.Code{jen.Lit(s.Name)}, opts...)...)
	}
	g.doc("The step definitions: their stable names and retry policies.")
	g.f.Var().Defs(defs...)
}

// wrapper renders a step's replay wrapper: the function workflows call instead of the
// step function. It has the step's parameters, with the workflow's wf.Context for the
// context.Context (and for the pgx.Tx of a transactional step, which the runtime begins).
// A method step's wrapper finds its receiver among the values registered on the client
// running the workflow.
func (g *gen) wrapper(s *model.Step) {
	params := []jen.Code{jen.Id("ctx").Qual(wfPath, "Context")}
	args := []jen.Code{jen.Id("ctx")}
	if s.Tx {
		args = append(args, jen.Id("tx"))
	}
	for i, p := range s.Params {
		if s.Variadic && i == len(s.Params)-1 {
			params = append(params, jen.Id(p.Name).Op("...").Add(g.elemType(p.Type)))
			args = append(args, jen.Id(p.Name).Op("..."))
			continue
		}
		params = append(params, jen.Id(p.Name).Add(g.typeCode(p.Type)))
		args = append(args, jen.Id(p.Name))
	}
	call := jen.Id(s.Func).Call(args...)
	if s.Recv != nil {
		call = jen.Id("recv").Dot(s.Func).Call(args...)
	}
	run := func(body jen.Code) *jen.Statement {
		fnParams := []jen.Code{jen.Id("ctx").Qual(contextPath, "Context")}
		method := "Run"
		if s.Tx {
			fnParams = append(fnParams, jen.Id("tx").Qual(pgxPath, "Tx"))
			method = "RunTx"
		}
		return jen.Id(s.DefVar()).Dot(method).Call(
			jen.Id("ctx"),
			jen.Func().Params(fnParams...).Params(g.runtimeType(s.Out), jen.Error()).Block(body),
		)
	}
	g.doc("%s", wrapperDoc(s))
	g.f.Func().Id(s.WrapperFunc()).Params(params...).Add(g.results(s.Out)).BlockFunc(func(b *jen.Group) {
		if s.Recv != nil {
			b.List(jen.Id("recv"), jen.Err()).Op(":=").Qual(wfPath, "Dep").Types(jen.Id(s.Recv.Type)).Call(jen.Id("ctx"))
			b.If(jen.Err().Op("!=").Nil()).BlockFunc(func(b *jen.Group) {
				if s.Out == nil {
					b.Return(jen.Err())
					return
				}
				b.Var().Id("zero").Add(g.typeCode(s.Out))
				b.Return(jen.Id("zero"), jen.Err())
			})
		}
		if s.Out != nil {
			b.Return(run(jen.Return(call)))
			return
		}
		assign := ":="
		if s.Recv != nil {
			assign = "="
		}
		b.List(jen.Id("_"), jen.Err()).Op(assign).Add(run(jen.Return(jen.Struct().Values(), call)))
		b.Return(jen.Err())
	})
}

// wrapperDoc is the doc comment of a step's replay wrapper.
func wrapperDoc(s *model.Step) string {
	target := s.Func
	if s.Recv != nil {
		target = "(*" + s.Recv.Type + ")." + s.Func
	}
	doc := fmt.Sprintf("%s runs %s as a durable step (%q) of the workflow ctx belongs to. The step's outcome is checkpointed: when the workflow replays after a crash, %s returns the recorded output (or error) without running %s again.",
		s.WrapperFunc(), target, s.Name, s.WrapperFunc(), s.Func)
	if s.Tx {
		doc += fmt.Sprintf(" Each attempt runs in a transaction of the client's pool, which commits the checkpoint with %s's writes: they take effect exactly once. Its other effects run at least once.", s.Func)
	} else {
		doc += fmt.Sprintf(" A step that was running when its process died runs again, so %s must be idempotent.", s.Func)
	}
	if s.Recv != nil {
		doc += fmt.Sprintf(" Its receiver is the *%s given to %s on the client running the workflow.", s.Recv.Type, model.RegisterFunc)
	}
	return doc
}
