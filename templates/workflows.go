package templates

import (
	"github.com/dave/jennifer/jen"

	"github.com/wfgen/wfgen/internal/wfgen/model"
)

// definitions declares a *wf.Workflow per workflow and a *wf.Schedule per schedule. They
// are assigned in init rather than by variable initializers: a workflow that enqueues
// itself (or enqueues one that enqueues it) would otherwise be an initialization cycle.
func (g *gen) definitions() {
	if len(g.p.Workflows) == 0 {
		return
	}
	var vars, inits []jen.Code
	for _, w := range g.p.Workflows {
		vars = append(vars, jen.Id(w.DefVar()).Op("*").Qual(wfPath, "Workflow").Types(g.runtimeType(w.In), g.runtimeType(w.Out)))
		inits = append(inits, jen.Id(w.DefVar()).Op("=").Qual(wfPath, "NewWorkflow").Call(g.workflowArgs(w)...))
	}
	for _, w := range g.p.Workflows {
		if w.Schedule != nil {
			vars = append(vars, jen.Id(w.ScheduleVar()).Op("*").Qual(wfPath, "Schedule"))
			inits = append(inits, g.schedule(w))
		}
	}
	g.doc("The workflow definitions: their stable names, options and code hashes.")
	g.f.Var().Defs(vars...)
	g.doc("init defines the workflows here rather than in the variables' initializers, where a workflow that enqueues itself would be an initialization cycle.")
	g.f.Func().Id("init").Params().Block(inits...)
}

// workflowArgs are the arguments of wf.NewWorkflow: the name, the function (adapted to
// the runtime's func(wf.Context, In) (Out, error) when it has no input or no output) and
// the options.
func (g *gen) workflowArgs(w *model.Workflow) []jen.Code {
	fn := jen.Id(w.Func)
	if w.In == nil || w.Out == nil {
		in := jen.Id("_").Struct()
		args := []jen.Code{jen.Id("ctx")}
		if w.In != nil {
			in = jen.Id("in").Add(g.typeCode(w.In))
			args = append(args, jen.Id("in"))
		}
		result := []jen.Code{jen.Id(w.Func).Call(args...)}
		if w.Out == nil {
			result = append([]jen.Code{jen.Struct().Values()}, result...)
		}
		fn = jen.Func().Params(jen.Id("ctx").Qual(wfPath, "Context"), in).Params(g.runtimeType(w.Out), jen.Error()).Block(jen.Return(result...))
	}
	args := []jen.Code{jen.Id(w.NameConst()), fn}
	if !w.Queue.IsZero() {
		args = append(args, jen.Qual(wfPath, "WorkflowQueue").Call(g.queueCode(w.Queue)))
	}
	if w.MaxRecoveries != nil {
		args = append(args, jen.Qual(wfPath, "MaxRecoveries").Call(jen.Lit(*w.MaxRecoveries)))
	}
	if w.Timeout > 0 {
		args = append(args, jen.Qual(wfPath, "WorkflowTimeout").Call(durationCode(w.Timeout)))
	}
	if w.ExpectedSteps > 0 {
		args = append(args, jen.Qual(wfPath, "ExpectedSteps").Call(jen.Lit(w.ExpectedSteps)))
	}
	return append(args, jen.Qual(wfPath, "CodeHash").Call(jen.Lit(w.CodeHash)))
}
