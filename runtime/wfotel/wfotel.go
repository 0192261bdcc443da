// Package wfotel traces workflows with OpenTelemetry: a span per workflow execution (its
// first run, and each resumption after a crash, a suspension or a takeover) and a child span
// per step attempt.
//
//	tracing := wfotel.New(otel.GetTracerProvider())
//	c, err := wf.NewClient(pool, wf.Config{Hooks: tracing}) // wf.MultiHooks to add wfprom
//
// A workflow's spans link to the span it was enqueued (or started, or started as a child)
// in: its W3C trace context is stored with the workflow, so the link holds across
// processes and however late the workflow runs. Give the enqueuing client the same hooks.
//
// Spans carry the workflow's ID, name, queue and attempt (wfgen.workflow.*) and the step's
// name, ID and try (wfgen.step.*); a failed workflow or step attempt records its error. A
// step's context carries its span, so that the step's own calls (HTTP, SQL) nest under it.
// A client without hooks pays nothing for any of this.
package wfotel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/wfgen/wfgen/runtime/wf"
)

// ScopeName is the instrumentation scope of the spans.
const ScopeName = "github.com/wfgen/wfgen/runtime/wfotel"

// Tracer is a wf.Hooks that records spans.
type Tracer struct {
	wf.NoHooks
	tracer trace.Tracer
}

// New returns a Tracer that records spans through tp.
func New(tp trace.TracerProvider) *Tracer {
	return &Tracer{tracer: tp.Tracer(ScopeName)}
}

// TraceContext stores the W3C traceparent of ctx's span with the workflows enqueued under it.
func (t *Tracer) TraceContext(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// WorkflowStarted starts the execution's span, linked to the span that enqueued it.
func (t *Tracer) WorkflowStarted(ctx context.Context, w wf.WorkflowEvent) context.Context {
	var links []trace.Link
	if w.TraceContext != "" {
		enq := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": w.TraceContext})
		if sc := trace.SpanContextFromContext(enq); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, _ = t.tracer.Start(ctx, "workflow "+w.Name,
		trace.WithLinks(links...),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithTimestamp(w.Started),
		trace.WithAttributes(
			attribute.String("wfgen.workflow.id", w.ID),
			attribute.String("wfgen.workflow.name", w.Name),
			attribute.String("wfgen.workflow.queue", w.Queue),
			attribute.Int("wfgen.workflow.attempt", w.Attempt),
		))
	return ctx
}

// WorkflowEnded ends the execution's span with its outcome.
func (t *Tracer) WorkflowEnded(ctx context.Context, _ wf.WorkflowEvent, outcome string, err error) {
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attribute.String("wfgen.workflow.outcome", outcome))
	if outcome == "failed" && err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// StepAttempt starts a span for the attempt, ended with its error.
func (t *Tracer) StepAttempt(ctx context.Context, s wf.StepEvent) (context.Context, func(error)) {
	ctx, span := t.tracer.Start(ctx, "step "+s.Step,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("wfgen.step.name", s.Step),
			attribute.Int("wfgen.step.id", s.StepID),
			attribute.Int("wfgen.step.try", s.Try),
		))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
