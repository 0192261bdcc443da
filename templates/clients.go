package templates

import (
	"fmt"

	"github.com/dave/jennifer/jen"

	"github.com/wfgen/wfgen/internal/wfgen/model"
)

// client renders a workflow's typed API: its handle type, enqueue functions (plain, in a
// transaction and, with an input, in bulk), direct start and lookup by ID.
func (g *gen) client(w *model.Workflow) {
	g.handle(w)

	handle := jen.Id(w.HandleType())
	queue := "the default queue"
	if w.Queue != "" {
		queue = fmt.Sprintf("queue %q", w.Queue)
	}
	inParam := func() []jen.Code {
		if w.In == nil {
			return nil
		}
		return []jen.Code{jen.Id("in").Add(g.typeCode(w.In))}
	}
	inArg := func() jen.Code {
		if w.In == nil {
			return jen.Struct().Values()
		}
		return jen.Id("in")
	}
	opts := jen.Id("opts").Op("...").Qual(wfPath, "EnqueueOption")
	onInput := ""
	if w.In != nil {
		onInput = " on input in"
	}

	// fn renders func name(ctx, c[, tx], in, opts...) (Handle, error), which calls method.
	fn := func(name, method string, tx bool) {
		params := []jen.Code{jen.Id("ctx").Qual(contextPath, "Context"), jen.Id("c").Op("*").Qual(wfPath, "Client")}
		args := []jen.Code{jen.Id("ctx"), jen.Id("c")}
		if tx {
			params = append(params, jen.Id("tx").Qual(pgxPath, "Tx"))
			args = append(args, jen.Id("tx"))
		}
		params = append(append(params, inParam()...), opts.Clone())
		args = append(args, inArg(), jen.Id("opts").Op("..."))
		g.f.Func().Id(name).Params(params...).Params(handle.Clone(), jen.Error()).Block(
			jen.List(jen.Id("h"), jen.Err()).Op(":=").Id(w.DefVar()).Dot(method).Call(args...),
			jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(handle.Clone().Values(), jen.Err())),
			jen.Return(handle.Clone().Values(jen.Dict{jen.Id("handle"): jen.Id("h")}), jen.Nil()),
		)
	}

	g.doc("%s enqueues a run of the %s workflow (%q)%s, on %s unless opts name another, and returns its handle once the run is stored. A worker that registered the workflow runs it.\n\nopts can also set the run's ID (wf.WithID: enqueueing an ID that exists returns that run), priority, deduplication ID, partition key, delay and timeout.",
		w.EnqueueFunc(), w.Func, w.Name, onInput, queue)
	fn(w.EnqueueFunc(), "Enqueue", false)

	g.doc("%s is %s inside the caller's transaction tx: the run is stored only if tx commits, atomically with the data it belongs to, and workers see it once tx commits.",
		w.EnqueueTxFunc(), w.EnqueueFunc())
	fn(w.EnqueueTxFunc(), "EnqueueTx", true)

	if w.In != nil {
		g.doc("%s enqueues a run of the %s workflow per input, in one statement, and returns their handles in the order of ins. opts apply to every run; wf.WithID and wf.WithDedupID, which name a single run, are refused.",
			w.EnqueueManyFunc(), w.Func)
		g.f.Func().Id(w.EnqueueManyFunc()).Params(
			jen.Id("ctx").Qual(contextPath, "Context"), jen.Id("c").Op("*").Qual(wfPath, "Client"),
			jen.Id("ins").Index().Add(g.typeCode(w.In)), opts.Clone(),
		).Params(jen.Index().Add(handle.Clone()), jen.Error()).Block(
			jen.List(jen.Id("hs"), jen.Err()).Op(":=").Id(w.DefVar()).Dot("EnqueueMany").Call(jen.Id("ctx"), jen.Id("c"), jen.Id("ins"), jen.Id("opts").Op("...")),
			jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err())),
			jen.Id("handles").Op(":=").Make(jen.Index().Add(handle.Clone()), jen.Len(jen.Id("hs"))),
			jen.For(jen.List(jen.Id("i"), jen.Id("h")).Op(":=").Range().Id("hs")).Block(
				jen.Id("handles").Index(jen.Id("i")).Op("=").Add(handle.Clone()).Values(jen.Dict{jen.Id("handle"): jen.Id("h")}),
			),
			jen.Return(jen.Id("handles"), jen.Nil()),
		)
	}

	g.doc("%s runs the %s workflow%s now, in this process, without going through a queue: c must be started and have the workflow registered. It returns once the run is stored. Of opts, only wf.WithID (starting an ID that exists returns that run and does not run it again) and wf.WithTimeout apply.",
		w.StartFunc(), w.Func, onInput)
	fn(w.StartFunc(), "Start", false)

	g.doc("%s returns the handle of the run of the %s workflow with the given ID, for clients that follow runs they did not start. It does not touch the database: the handle's methods report wf.ErrNotFound for an unknown ID.",
		w.GetFunc(), w.Func)
	g.f.Func().Id(w.GetFunc()).Params(jen.Id("c").Op("*").Qual(wfPath, "Client"), jen.Id("id").String()).Add(handle.Clone()).Block(
		jen.Return(handle.Clone().Values(jen.Dict{jen.Id("handle"): jen.Id(w.DefVar()).Dot("Get").Call(jen.Id("c"), jen.Id("id"))})),
	)
}

// handle renders a workflow's handle type and its methods.
func (g *gen) handle(w *model.Workflow) {
	name := w.HandleType()
	recv := func() *jen.Statement { return jen.Params(jen.Id("h").Id(name)) }
	inner := func() *jen.Statement { return jen.Id("h").Dot("handle") }
	ctxParam := func() *jen.Statement { return jen.Id("ctx").Qual(contextPath, "Context") }

	g.doc("%s refers to one run of the %s workflow (%q): get one from %s, %s or %s. The zero value refers to nothing: its ID is \"\" and its other methods return an error wrapping wf.ErrNotFound.",
		name, w.Func, w.Name, w.EnqueueFunc(), w.StartFunc(), w.GetFunc())
	g.f.Type().Id(name).Struct(jen.Id("handle").Op("*").Qual(wfPath, "Handle").Types(g.runtimeType(w.Out)))

	g.doc("ID returns the workflow's ID, or \"\" for the zero value.")
	g.f.Func().Add(recv()).Id("ID").Params().String().Block(jen.Return(inner().Dot("ID").Call()))

	g.doc("Status returns the workflow's current status, or an error wrapping wf.ErrNotFound.")
	g.f.Func().Add(recv()).Id("Status").Params(ctxParam()).Params(jen.Qual(wfPath, "Status"), jen.Error()).Block(
		jen.Return(inner().Dot("Status").Call(jen.Id("ctx"))),
	)

	const notFound = "\n\nFor an ID that no run has, it returns an error wrapping wf.ErrNotFound at once; a run enqueued in a transaction exists once the transaction commits."
	if w.Out != nil {
		g.doc("Result waits until the workflow is final and returns its output, or its error as a *wf.WorkflowError (errors.Is matches wf.ErrCancelled, wf.ErrTimeout and wf.ErrDead). It returns ctx's error if ctx ends first; the workflow goes on." + notFound)
		g.f.Func().Add(recv()).Id("Result").Params(ctxParam()).Params(g.typeCode(w.Out), jen.Error()).Block(
			jen.Return(inner().Dot("Result").Call(jen.Id("ctx"))),
		)
	} else {
		g.doc("Result waits until the workflow is final and returns nil if it succeeded, or its error as a *wf.WorkflowError (errors.Is matches wf.ErrCancelled, wf.ErrTimeout and wf.ErrDead). It returns ctx's error if ctx ends first; the workflow goes on." + notFound)
		g.f.Func().Add(recv()).Id("Result").Params(ctxParam()).Error().Block(
			jen.List(jen.Id("_"), jen.Err()).Op(":=").Add(inner()).Dot("Result").Call(jen.Id("ctx")),
			jen.Return(jen.Err()),
		)
	}

	const poll = " It reads the database once and never waits: an HTTP handler that reports a run's progress calls it rather than Status and then Result. For an ID that no run has, it returns an error wrapping wf.ErrNotFound."
	if w.Out != nil {
		g.doc("Poll returns the workflow's outcome if it is final: done is false (and err nil) while it is enqueued or running; once done, out and err are what Result returns." + poll)
		g.f.Func().Add(recv()).Id("Poll").Params(ctxParam()).Params(jen.Id("out").Add(g.typeCode(w.Out)), jen.Id("done").Bool(), jen.Err().Error()).Block(
			jen.Return(inner().Dot("Poll").Call(jen.Id("ctx"))),
		)
	} else {
		g.doc("Poll says whether the workflow is final: done is false (and err nil) while it is enqueued or running; once done, err is what Result returns." + poll)
		g.f.Func().Add(recv()).Id("Poll").Params(ctxParam()).Params(jen.Id("done").Bool(), jen.Err().Error()).Block(
			jen.List(jen.Id("_"), jen.Id("done"), jen.Err()).Op("=").Add(inner()).Dot("Poll").Call(jen.Id("ctx")),
			jen.Return(jen.Id("done"), jen.Err()),
		)
	}

	g.doc("Cancel cancels the workflow if it is enqueued or running: a running workflow stops at its next step. Cancelling a final workflow does nothing.")
	g.f.Func().Add(recv()).Id("Cancel").Params(ctxParam()).Error().Block(
		jen.Return(inner().Dot("Cancel").Call(jen.Id("ctx"))),
	)
}
