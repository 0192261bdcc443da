-- 0005_trace_context: the trace a workflow was enqueued in, so that its executions link to it.

-- trace_context is what the enqueuer's tracing hook (wf.Hooks.TraceContext) gave, such as a
-- W3C traceparent; NULL without one.
ALTER TABLE wfgen.workflows ADD COLUMN trace_context text;
