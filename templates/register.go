package templates

import (
	"fmt"
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/wfgen/wfgen/internal/wfgen/model"
)

// register renders the package's Register: every queue, event, topic, stream, step,
// workflow and schedule of the package, in that order, with the other packages' queues its
// workflows name after its own queues. Registering the package-level
// events, topics and streams makes the client refuse a key that two of them use with
// different types.
func (g *gen) register() {
	var defs []jen.Code
	for _, q := range g.p.Queues {
		defs = append(defs, jen.Id(q.Var))
	}
	for _, q := range g.p.QueueRefs {
		defs = append(defs, jen.Qual(q.Path, q.Var))
	}
	for _, c := range g.p.Channels {
		defs = append(defs, jen.Id(c.Var))
	}
	for _, d := range g.p.Deps {
		defs = append(defs, jen.Qual(wfPath, "Provide").Call(jen.Id(d.Param)))
	}
	for _, s := range g.p.Steps {
		defs = append(defs, jen.Id(s.DefVar()))
	}
	for _, w := range g.p.Workflows {
		defs = append(defs, jen.Id(w.DefVar()))
	}
	for _, w := range g.p.Workflows {
		if w.Schedule != nil {
			defs = append(defs, jen.Id(w.ScheduleVar()))
		}
	}
	what := "workflows, steps, schedules and package-level queues"
	if len(g.p.Channels) > 0 {
		what = "workflows, steps, schedules, and package-level queues, events, topics and streams"
	}
	if len(g.p.QueueRefs) > 0 {
		what += ", with the other packages' queues its workflows name,"
	}
	params := []jen.Code{jen.Id("c").Op("*").Qual(wfPath, "Client")}
	for _, d := range g.p.Deps {
		params = append(params, jen.Id(d.Param).Op("*").Id(d.Type))
	}
	g.doc("%s registers this package's "+what+" on c, under their stable names, so that c runs them once started. Call it on every worker before c.Start. A client that only enqueues workflows and reads their results does not need it.%s", model.RegisterFunc, depsDoc(g.p.Deps))
	g.f.Func().Id(model.RegisterFunc).Params(params...).Error().Block(
		jen.Return(jen.Id("c").Dot("Register").Custom(jen.Options{Open: "(", Close: ")", Separator: ",", Multi: true}, defs...)),
	)
}

// depsDoc tells what Register does with the receivers of the package's method steps.
func depsDoc(deps []*model.Dep) string {
	if len(deps) == 0 {
		return ""
	}
	names := make([]string, len(deps))
	for i, d := range deps {
		names[i] = d.Param
	}
	return fmt.Sprintf("\n\nThe steps that are methods run on the values given here (%s), which must not be nil: each client, in each test too, can have its own. They are shared by every call of those steps on c, concurrently.", strings.Join(names, ", "))
}
