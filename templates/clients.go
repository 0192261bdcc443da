package templates

import (
	"fmt"

	"github.com/dave/jennifer/jen"

	"github.com/wfgen/wfgen/internal/wfgen/model"
)

// client renders a workflow's typed API: its handle type, the listing of its runs, enqueue
// functions (plain, in a transaction and, with an input, in bulk) and direct start, or for
// a scheduled workflow the trigger of a tick, the calls that make it a child of another
// workflow, debounce, and lookup by ID.
func (g *gen) client(w *model.Workflow) {
	g.handle(w)

	g.list(w)
	if w.HasEnqueueFuncs() {
		g.enqueue(w)
	} else {
		g.trigger(w)
	}
	if w.HasChildFuncs() {
		g.children(w)
	}

	g.awaitAll(w)

	handle := jen.Id(w.HandleType())
	g.doc("%s returns the handle of the run of the %s workflow with the given ID, for clients that follow runs they did not start. It does not touch the database: the handle's methods report wf.ErrNotFound for an unknown ID.",
		w.GetFunc(), w.Func)
	g.f.Func().Id(w.GetFunc()).Params(jen.Id("c").Op("*").Qual(wfPath, "Client"), jen.Id("id").String()).Add(handle.Clone()).Block(
		jen.Return(handle.Clone().Values(jen.Dict{jen.Id("handle"): jen.Id(w.DefVar()).Dot("Get").Call(jen.Id("c"), jen.Id("id"))})),
	)
}

// enqueue renders the functions that enqueue or start a workflow that is not scheduled:
// plain, in a transaction, in bulk (with an input), and in this process.
func (g *gen) enqueue(w *model.Workflow) {
	handle := jen.Id(w.HandleType())
	queue := queueDoc(w.Queue)
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
}

// handle renders a workflow's handle type and its methods.
func (g *gen) handle(w *model.Workflow) {
	name := w.HandleType()
	recv := func() *jen.Statement { return jen.Params(jen.Id("h").Id(name)) }
	inner := func() *jen.Statement { return jen.Id("h").Dot("handle") }
	ctxParam := func() *jen.Statement { return jen.Id("ctx").Qual(contextPath, "Context") }

	from := fmt.Sprintf("%s, %s or %s", w.EnqueueFunc(), w.StartFunc(), w.GetFunc())
	if !w.HasEnqueueFuncs() {
		from = fmt.Sprintf("%s, %s or %s", w.TriggerFunc(), w.ListFunc(), w.GetFunc())
	}
	if w.HasChildFuncs() {
		from = fmt.Sprintf("%s, %s or %s, or in a workflow from %s or %s", w.EnqueueFunc(), w.StartFunc(), w.GetFunc(), w.EnqueueChildFunc(), w.StartChildFunc())
	}
	g.doc("%s refers to one run of the %s workflow (%q): get one from %s. The zero value refers to nothing: its ID is \"\" and its other methods return an error wrapping wf.ErrNotFound.",
		name, w.Func, w.Name, from)
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

	const await = " Call it from a workflow (ctx is the waiting workflow's), for a child or any other run; clients call Result. The wait is durable and checkpointed like a step: it survives the waiting workflow's crash, and a replay returns the recorded outcome at once."
	if w.Out != nil {
		g.doc("Await waits until the workflow is final and returns what Result returns." + await)
		g.f.Func().Add(recv()).Id("Await").Params(jen.Id("ctx").Qual(wfPath, "Context")).Params(g.typeCode(w.Out), jen.Error()).Block(
			jen.Return(inner().Dot("Await").Call(jen.Id("ctx"))),
		)
	} else {
		g.doc("Await waits until the workflow is final and returns what Result returns: nil if it succeeded." + await)
		g.f.Func().Add(recv()).Id("Await").Params(jen.Id("ctx").Qual(wfPath, "Context")).Error().Block(
			jen.List(jen.Id("_"), jen.Err()).Op(":=").Add(inner()).Dot("Await").Call(jen.Id("ctx")),
			jen.Return(jen.Err()),
		)
	}

	g.doc("Cancel cancels the workflow if it is enqueued or running: a running workflow stops at its next step. Cancelling a final workflow does nothing.")
	g.f.Func().Add(recv()).Id("Cancel").Params(ctxParam()).Error().Block(
		jen.Return(inner().Dot("Cancel").Call(jen.Id("ctx"))),
	)

	g.accessors(w)
}

// awaitAll renders AwaitAllF, which a workflow calls to wait for many runs in one step.
func (g *gen) awaitAll(w *model.Workflow) {
	handle := jen.Id(w.HandleType())
	const doc = "\n\nCall it from a workflow (ctx is the waiting workflow's), typically on the handles %s returned. It is one step however many handles it waits for: the outcomes are checkpointed together, and a replay returns them at once. Awaiting each handle in turn costs a step, and a commit, each. Like Await, it gives the worker slot back while it waits longer than wf.Config.SuspendAfter."
	from := w.GetFunc()
	if w.HasChildFuncs() && w.In != nil {
		from = w.EnqueueChildrenFunc()
	}
	body := []jen.Code{
		jen.Id("inner").Op(":=").Make(jen.Index().Op("*").Qual(wfPath, "Handle").Types(g.runtimeType(w.Out)), jen.Len(jen.Id("hs"))),
		jen.For(jen.List(jen.Id("i"), jen.Id("h")).Op(":=").Range().Id("hs")).Block(
			jen.Id("inner").Index(jen.Id("i")).Op("=").Id("h").Dot("handle"),
		),
	}
	params := jen.Params(jen.Id("ctx").Qual(wfPath, "Context"), jen.Id("hs").Index().Add(handle))
	if w.Out != nil {
		g.doc("%s waits until every run of the %s workflow in hs is final, and returns their outputs in the order of hs. When some failed, it returns the others' outputs (the zero value in place of each failed one) and an error joining the failures (errors.Join), each as Result returns it."+doc,
			w.AwaitAllFunc(), w.Func, from)
		g.f.Func().Id(w.AwaitAllFunc()).Add(params).Params(jen.Index().Add(g.typeCode(w.Out)), jen.Error()).Block(
			append(body, jen.Return(jen.Qual(wfPath, "AwaitAll").Call(jen.Id("ctx"), jen.Id("inner"))))...,
		)
		return
	}
	g.doc("%s waits until every run of the %s workflow in hs is final. It returns nil if all succeeded, or an error joining the failures (errors.Join), each as Result returns it."+doc,
		w.AwaitAllFunc(), w.Func, from)
	g.f.Func().Id(w.AwaitAllFunc()).Add(params).Error().Block(
		append(body,
			jen.List(jen.Id("_"), jen.Err()).Op(":=").Qual(wfPath, "AwaitAll").Call(jen.Id("ctx"), jen.Id("inner")),
			jen.Return(jen.Err()))...,
	)
}

// children renders the functions a workflow calls to run this one as its child, and
// Debounce, which clients call.
func (g *gen) children(w *model.Workflow) {
	handle := jen.Id(w.HandleType())
	opts := jen.Id("opts").Op("...").Qual(wfPath, "EnqueueOption")
	queue := queueDoc(w.Queue)
	onInput, inArg := "", jen.Struct().Values()
	var inParam []jen.Code
	if w.In != nil {
		onInput, inArg = " on input in", jen.Id("in")
		inParam = []jen.Code{jen.Id("in").Add(g.typeCode(w.In))}
	}
	const replay = "\n\nCall it from a workflow (ctx is the calling workflow's), never from a client. The call is checkpointed like a step: the child's ID derives from the calling workflow's ID and the step ID of this call, so when the caller replays, it gets the same child back and no second one is started. wf.WithID names the child instead. Cancelling the caller cancels the child while it is unfinished."
	child := func(name, method string) {
		params := append(append([]jen.Code{jen.Id("ctx").Qual(wfPath, "Context")}, inParam...), opts.Clone())
		g.f.Func().Id(name).Params(params...).Params(handle.Clone(), jen.Error()).Block(
			jen.List(jen.Id("h"), jen.Err()).Op(":=").Id(w.DefVar()).Dot(method).Call(jen.Id("ctx"), inArg, jen.Id("opts").Op("...")),
			jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(handle.Clone().Values(), jen.Err())),
			jen.Return(handle.Clone().Values(jen.Dict{jen.Id("handle"): jen.Id("h")}), jen.Nil()),
		)
	}

	g.doc("%s enqueues a run of the %s workflow (%q)%s as a child of the workflow ctx belongs to, on %s unless opts name another, and returns its handle: the caller goes on, and waits for the child's outcome when it needs it with the handle's Await."+replay,
		w.EnqueueChildFunc(), w.Func, w.Name, onInput, queue)
	child(w.EnqueueChildFunc(), "EnqueueChild")

	g.doc("%s runs the %s workflow%s as a child of the workflow ctx belongs to, now, in this process, without going through a queue, and returns its handle; wait for the child's outcome with the handle's Await. This process must have the %s workflow registered."+replay,
		w.StartChildFunc(), w.Func, onInput, w.Func)
	child(w.StartChildFunc(), "StartChild")

	if w.In != nil {
		g.doc("%s enqueues a child run of the %s workflow per input, in one statement, as children of the workflow ctx belongs to, and returns their handles in the order of ins. opts apply to every child; wf.WithID and wf.WithDedupID, which name a single run, are refused.\n\nCall it from a workflow, never from a client. The whole batch is checkpointed as one step: the children's IDs derive from the calling workflow's ID, the step ID of this call and each input's index in ins, so when the caller replays, it gets the same children back and none is started twice.",
			w.EnqueueChildrenFunc(), w.Func)
		g.f.Func().Id(w.EnqueueChildrenFunc()).Params(
			jen.Id("ctx").Qual(wfPath, "Context"), jen.Id("ins").Index().Add(g.typeCode(w.In)), opts.Clone(),
		).Params(jen.Index().Add(handle.Clone()), jen.Error()).Block(
			jen.List(jen.Id("hs"), jen.Err()).Op(":=").Id(w.DefVar()).Dot("EnqueueChildren").Call(jen.Id("ctx"), jen.Id("ins"), jen.Id("opts").Op("...")),
			jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err())),
			jen.Id("handles").Op(":=").Make(jen.Index().Add(handle.Clone()), jen.Len(jen.Id("hs"))),
			jen.For(jen.List(jen.Id("i"), jen.Id("h")).Op(":=").Range().Id("hs")).Block(
				jen.Id("handles").Index(jen.Id("i")).Op("=").Add(handle.Clone()).Values(jen.Dict{jen.Id("handle"): jen.Id("h")}),
			),
			jen.Return(jen.Id("handles"), jen.Nil()),
		)
	}

	input := ""
	if w.In != nil {
		input = " with the input of the latest call"
	}
	g.doc("%s enqueues a run of the %s workflow%s that starts only once no call with the same key has come for period, or maxDelay after the first call of the burst at the latest (0: no limit); the run starts%s. Every call of a burst returns the handle of that one pending run; a call that comes after it has started debounces a new run. Use it from clients, for work that many events trigger but one run can do, such as re-indexing after a series of edits; a workflow enqueues children instead.\n\nOf opts, wf.WithQueue (else %s), wf.WithPriority, wf.WithPartitionKey and wf.WithTimeout apply, as the first call of the burst gives them; the key names the run and period delays it, so wf.WithID, wf.WithDedupID and the delays are refused.",
		w.DebounceFunc(), w.Func, onInput, input, queue)
	params := []jen.Code{jen.Id("ctx").Qual(contextPath, "Context"), jen.Id("c").Op("*").Qual(wfPath, "Client"), jen.Id("key").String()}
	params = append(append(params, inParam...), jen.List(jen.Id("period"), jen.Id("maxDelay")).Qual(timePath, "Duration"), opts.Clone())
	g.f.Func().Id(w.DebounceFunc()).Params(params...).Params(handle.Clone(), jen.Error()).Block(
		jen.List(jen.Id("h"), jen.Err()).Op(":=").Id(w.DefVar()).Dot("Debounce").Call(jen.Id("ctx"), jen.Id("c"), jen.Id("key"), inArg, jen.Id("period"), jen.Id("maxDelay"), jen.Id("opts").Op("...")),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(handle.Clone().Values(), jen.Err())),
		jen.Return(handle.Clone().Values(jen.Dict{jen.Id("handle"): jen.Id("h")}), jen.Nil()),
	)
}

// accessors renders the handle's typed accessors of the channels its workflow uses, so
// that a client reads and sends without naming their types.
func (g *gen) accessors(w *model.Workflow) {
	name := w.HandleType()
	recv := func() *jen.Statement { return jen.Params(jen.Id("h").Id(name)) }
	ctxParam := func() *jen.Statement { return jen.Id("ctx").Qual(contextPath, "Context") }
	client := func() *jen.Statement { return jen.Id("h").Dot("handle").Dot("Client").Call() }
	id := func() *jen.Statement { return jen.Id("h").Dot("ID").Call() }
	for _, e := range w.Events {
		g.doc("%s returns the value the workflow has set for the event %s, with ok false (and err nil) while it has set none. It never waits; %s does.", e.GetAccessor(), e.Var, e.WaitAccessor())
		g.f.Func().Add(recv()).Id(e.GetAccessor()).Params(ctxParam()).Params(jen.Id("v").Add(g.typeCode(e.Elem)), jen.Id("ok").Bool(), jen.Err().Error()).Block(
			jen.Return(jen.Id(e.Var).Dot("Get").Call(jen.Id("ctx"), client(), id())),
		)
		g.doc("%s waits until the workflow has set the event %s and returns its value. It returns ctx's error if ctx ends first.", e.WaitAccessor(), e.Var)
		g.f.Func().Add(recv()).Id(e.WaitAccessor()).Params(ctxParam()).Params(g.typeCode(e.Elem), jen.Error()).Block(
			jen.Return(jen.Id(e.Var).Dot("Wait").Call(jen.Id("ctx"), client(), id())),
		)
	}
	for _, t := range w.Topics {
		g.doc("%s sends msg on the topic %s to the workflow, which receives it with %s.Recv. wf.WithIdempotencyKey makes a send that is retried arrive once. Clients send with it; a workflow sends with %s.SendFromWorkflow.", t.SendAccessor(), t.Var, t.Var, t.Var)
		g.f.Func().Add(recv()).Id(t.SendAccessor()).Params(ctxParam(), jen.Id("msg").Add(g.typeCode(t.Elem)), jen.Id("opts").Op("...").Qual(wfPath, "SendOption")).Error().Block(
			jen.Return(jen.Id(t.Var).Dot("Send").Call(jen.Id("ctx"), client(), id(), jen.Id("msg"), jen.Id("opts").Op("..."))),
		)
	}
	for _, s := range w.Streams {
		g.doc("%s returns the values the workflow has appended to the stream %s, from index from (0 for the first) on, and whether the stream is closed: once it is, no value follows the last one returned. It never waits; %s does.", s.ReadAccessor(), s.Var, s.AllAccessor())
		g.f.Func().Add(recv()).Id(s.ReadAccessor()).Params(ctxParam(), jen.Id("from").Int()).Params(jen.Id("vals").Index().Add(g.typeCode(s.Elem)), jen.Id("closed").Bool(), jen.Err().Error()).Block(
			jen.Return(jen.Id(s.Var).Dot("Read").Call(jen.Id("ctx"), client(), id(), jen.Id("from"))),
		)
		g.doc("%s yields the values the workflow appends to the stream %s, from index from (0 for the first) on, waiting for each, until the stream is closed or the workflow is final. An error (ctx's, when it ends first) is yielded last.", s.AllAccessor(), s.Var)
		g.f.Func().Add(recv()).Id(s.AllAccessor()).Params(ctxParam(), jen.Id("from").Int()).Qual(iterPath, "Seq2").Types(g.typeCode(s.Elem), jen.Error()).Block(
			jen.Return(jen.Id(s.Var).Dot("All").Call(jen.Id("ctx"), client(), id(), jen.Id("from"))),
		)
	}
}
