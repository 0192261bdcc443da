package templates

import (
	"fmt"

	"github.com/dave/jennifer/jen"

	"github.com/wfgen/wfgen/internal/wfgen/model"
)

// nameConsts declares each workflow's stable name as a constant, so that user code that
// needs the name (a wf.ListOptions, a log filter, SQL) never spells it.
func (g *gen) nameConsts() {
	if len(g.p.Workflows) == 0 {
		return
	}
	var defs []jen.Code
	for i, w := range g.p.Workflows {
		if i > 0 {
			defs = append(defs, jen.Line())
		}
		for _, line := range docLines(fmt.Sprintf("%s is the stable name of the %s workflow: it is registered and stored under it (wf.Status.Workflow, wf.ListOptions.Workflow).", w.NameConst(), w.Func)) {
			defs = append(defs, jen.Comment(line))
		}
		defs = append(defs, jen.Id(w.NameConst()).Op("=").Lit(w.Name))
	}
	g.f.Const().Defs(defs...)
}

// list renders a workflow's list entry type and the function that lists its runs.
func (g *gen) list(w *model.Workflow) {
	handle := jen.Id(w.HandleType())
	g.doc("%s is a run of the %s workflow as %s found it: its status then, and its handle, which reads its current state and typed outcome.", w.RunType(), w.Func, w.ListFunc())
	g.f.Type().Id(w.RunType()).Struct(
		jen.Qual(wfPath, "Status"),
		jen.Comment("Handle follows the run: its current state and typed outcome."),
		jen.Id("Handle").Add(handle.Clone()),
	)

	g.doc("%s returns the newest runs of the %s workflow (%s) that match opts, newest first: for example its failed runs with wf.ListOptions{State: wf.StateError}. opts.Workflow is set to %s; opts.Limit defaults to 100.",
		w.ListFunc(), w.Func, w.NameConst(), w.NameConst())
	g.f.Func().Id(w.ListFunc()).Params(
		jen.Id("ctx").Qual(contextPath, "Context"), jen.Id("c").Op("*").Qual(wfPath, "Client"), jen.Id("opts").Qual(wfPath, "ListOptions"),
	).Params(jen.Index().Id(w.RunType()), jen.Error()).Block(
		jen.Id("opts").Dot("Workflow").Op("=").Id(w.NameConst()),
		jen.List(jen.Id("sts"), jen.Err()).Op(":=").Id("c").Dot("ListWorkflows").Call(jen.Id("ctx"), jen.Id("opts")),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err())),
		jen.Id("runs").Op(":=").Make(jen.Index().Id(w.RunType()), jen.Len(jen.Id("sts"))),
		jen.For(jen.List(jen.Id("i"), jen.Id("st")).Op(":=").Range().Id("sts")).Block(
			jen.Id("runs").Index(jen.Id("i")).Op("=").Id(w.RunType()).Values(
				jen.Id("Status").Op(":").Id("st"),
				jen.Id("Handle").Op(":").Id(w.GetFunc()).Call(jen.Id("c"), jen.Id("st").Dot("ID")),
			),
		),
		jen.Return(jen.Id("runs"), jen.Nil()),
	)
}

// trigger renders the function that enqueues a scheduled workflow's run for a tick by hand.
func (g *gen) trigger(w *model.Workflow) {
	handle := jen.Id(w.HandleType())
	g.doc("%s enqueues the run of the %s workflow for the tick at, by hand, as its schedule (cron %q) enqueues a tick: under the tick's ID, on %s. A tick has one run: triggering a tick that its schedule fired, or that was triggered before, returns that run's handle and runs nothing again.\n\nat is truncated to the second and is the run's wf.Tick; a time off the schedule is a run of its own, so %s(ctx, c, time.Now()) runs the workflow now. A worker that registered the workflow runs it; c need not be one.",
		w.TriggerFunc(), w.Func, w.Schedule.Cron, queueDoc(scheduleQueueRef(w)), w.TriggerFunc())
	g.f.Func().Id(w.TriggerFunc()).Params(
		jen.Id("ctx").Qual(contextPath, "Context"), jen.Id("c").Op("*").Qual(wfPath, "Client"), jen.Id("at").Qual(timePath, "Time"),
	).Params(handle.Clone(), jen.Error()).Block(
		jen.List(jen.Id("id"), jen.Err()).Op(":=").Id(w.ScheduleVar()).Dot("Trigger").Call(jen.Id("ctx"), jen.Id("c"), jen.Id("at")),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(handle.Clone().Values(), jen.Err())),
		jen.Return(jen.Id(w.GetFunc()).Call(jen.Id("c"), jen.Id("id")), jen.Nil()),
	)
}

// scheduleQueueRef is the queue a schedule enqueues its ticks on.
func scheduleQueueRef(w *model.Workflow) model.QueueRef {
	if !w.Schedule.Queue.IsZero() {
		return w.Schedule.Queue
	}
	return w.Queue
}

// queueCode renders the name of the queue a queue= option names: the name, or the named
// variable's Name().
func (g *gen) queueCode(q model.QueueRef) jen.Code {
	switch {
	case q.Var == "":
		return jen.Lit(q.Name)
	case q.Path == "":
		return jen.Id(q.Var).Dot("Name").Call()
	default:
		return jen.Qual(q.Path, q.Var).Dot("Name").Call()
	}
}

// queueDoc words a queue for doc comments: "the default queue", `queue "reports"`, `queue
// Reports ("reports")` or "queue queues.Reports".
func queueDoc(q model.QueueRef) string {
	v := q.Var
	if q.PkgName != "" {
		v = q.PkgName + "." + q.Var
	}
	switch {
	case q.IsZero():
		return "the default queue"
	case v == "":
		return fmt.Sprintf("queue %q", q.Name)
	case q.Name == "":
		return "queue " + v
	default:
		return fmt.Sprintf("queue %s (%q)", v, q.Name)
	}
}
