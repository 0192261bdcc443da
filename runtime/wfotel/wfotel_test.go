package wfotel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/wfgen/wfgen/runtime/wf"
	"github.com/wfgen/wfgen/runtime/wfotel"
	"github.com/wfgen/wfgen/runtime/wftest"
)

func TestMain(m *testing.M) { wftest.Main(m) }

func TestAWorkflowIsASpanWithAChildSpanPerStepAttempt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	c := wftest.NewClient(t, wf.Config{Hooks: wfotel.New(tp)})

	var stepParent trace.SpanContext
	flaky := wf.NewStep[int]("otel.flaky", wf.MaxAttempts(2), wf.Backoff(time.Millisecond))
	last := wf.NewStep[int]("otel.last")
	w := wf.NewWorkflow("otel.Work", func(ctx wf.Context, n int) (int, error) {
		tries := 0
		if _, err := flaky.Run(ctx, func(context.Context) (int, error) {
			if tries++; tries == 1 {
				return 0, errors.New("first try fails")
			}
			return n, nil
		}); err != nil {
			return 0, err
		}
		return last.Run(ctx, func(sctx context.Context) (int, error) {
			stepParent = trace.SpanContextFromContext(sctx)
			return 0, errors.New("the workflow fails here")
		})
	})
	require.NoError(t, c.Register(flaky, last, w))
	wftest.Start(t, c)
	// Enqueued from a request's span, by a client with the same hooks (an API server).
	api := wftest.NewClient(t, wf.Config{Schema: c.Schema(), Hooks: wfotel.New(tp)})
	reqCtx, request := tp.Tracer("test").Start(ctx, "POST /work")
	h, err := w.Enqueue(reqCtx, api, 7, wf.WithID("traced"))
	request.End()
	require.NoError(t, err)
	_, err = h.Result(ctx)
	require.Error(t, err)
	// The result is visible once the completion is committed and the workflow's span ends in
	// the end hook just after: Stop waits for the execution to return.
	require.NoError(t, c.Stop(ctx))
	require.NoError(t, tp.ForceFlush(ctx))

	spans := rec.Ended()
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	require.Len(t, byName["workflow otel.Work"], 1)
	root := byName["workflow otel.Work"][0]
	require.Equal(t, trace.SpanKindConsumer, root.SpanKind())
	attrs := map[string]string{}
	for _, a := range root.Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	require.Equal(t, "traced", attrs["wfgen.workflow.id"])
	require.Equal(t, "failed", attrs["wfgen.workflow.outcome"])
	require.Equal(t, "1", attrs["wfgen.workflow.attempt"])
	require.Equal(t, "Error", root.Status().Code.String())
	require.Len(t, root.Links(), 1, "the execution links to the span that enqueued it")
	require.Equal(t, byName["POST /work"][0].SpanContext().SpanID(), root.Links()[0].SpanContext.SpanID())

	require.Len(t, byName["step otel.flaky"], 2, "one span per attempt")
	require.Len(t, byName["step otel.last"], 1)
	for _, s := range append(byName["step otel.flaky"], byName["step otel.last"]...) {
		require.Equal(t, root.SpanContext().SpanID(), s.Parent().SpanID(), "step spans are children of the workflow's")
		require.Equal(t, root.SpanContext().TraceID(), s.SpanContext().TraceID())
	}
	require.Equal(t, byName["step otel.last"][0].SpanContext().SpanID(), stepParent.SpanID(), "a step's context carries its span")
}
