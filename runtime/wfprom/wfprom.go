// Package wfprom exports wfgen's runtime metrics to Prometheus.
//
//	m := wfprom.New()
//	c, err := wf.NewClient(pool, wf.Config{Hooks: m}) // workflows, steps, checkpoints
//	m.Watch(c)                                        // queue depths and executors, read at each scrape
//	prometheus.MustRegister(m)
//
// The metrics, all prefixed wfgen_:
//
//   - workflow_executions_total{workflow,outcome} and workflow_execution_seconds{workflow,outcome}:
//     each execution of a workflow in this process, by how it ended (succeeded, failed,
//     suspended, interrupted), and how long it ran;
//   - enqueue_to_start_seconds{queue}: from when a workflow could start (its enqueue, or
//     its due time) to its first execution here;
//   - step_attempts_total{step,outcome} and step_attempt_seconds{step,outcome}: each call of
//     a step function (outcome ok or error);
//   - checkpoint_batch_size and checkpoint_commit_seconds{outcome}: the checkpoint writer's
//     group commits;
//   - queue_workflows{queue,state}: the unfinished workflows of every queue (enqueued,
//     delayed, unrunnable, running), and executors_alive: executors renewing their lease,
//     both read from PostgreSQL at each scrape (two short queries) once Watch is called.
//
// A client without Config.Hooks pays nothing for any of this.
package wfprom

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wfgen/wfgen/runtime/wf"
)

// ScrapeTimeout bounds the queries a scrape runs.
const ScrapeTimeout = 5 * time.Second

// Metrics is a wf.Hooks that records metrics, and a prometheus.Collector that exports them.
type Metrics struct {
	wf.NoHooks

	executions     *prometheus.CounterVec
	executionTime  *prometheus.HistogramVec
	enqueueToStart *prometheus.HistogramVec
	attempts       *prometheus.CounterVec
	attemptTime    *prometheus.HistogramVec
	batchSize      prometheus.Histogram
	commitTime     *prometheus.HistogramVec

	queueDesc     *prometheus.Desc
	executorsDesc *prometheus.Desc
	scrapeErrDesc *prometheus.Desc

	mu     sync.Mutex
	client *wf.Client
}

// New returns Metrics with nothing recorded.
func New() *Metrics {
	const ns = "wfgen"
	return &Metrics{
		executions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "workflow_executions_total",
			Help: "Executions of workflows in this process, by how they ended."}, []string{"workflow", "outcome"}),
		executionTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "workflow_execution_seconds",
			Help: "How long executions of workflows ran in this process.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 12)}, []string{"workflow", "outcome"}),
		enqueueToStart: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "enqueue_to_start_seconds",
			Help: "From when a workflow could start to its first execution.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18)}, []string{"queue"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "step_attempts_total",
			Help: "Calls of step functions, by outcome."}, []string{"step", "outcome"}),
		attemptTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "step_attempt_seconds",
			Help: "How long calls of step functions took.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 12)}, []string{"step", "outcome"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "checkpoint_batch_size",
			Help: "Checkpoints written by one group commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 11)}),
		commitTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "checkpoint_commit_seconds",
			Help: "How long one group commit of checkpoints took.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16)}, []string{"outcome"}),
		queueDesc: prometheus.NewDesc(ns+"_queue_workflows", "Unfinished workflows of each queue, by state (enqueued, delayed, unrunnable, running).",
			[]string{"queue", "state"}, nil),
		executorsDesc: prometheus.NewDesc(ns+"_executors_alive", "Executors renewing their lease.", nil, nil),
		scrapeErrDesc: prometheus.NewDesc(ns+"_scrape_error", "1 when reading queue depths or executors from PostgreSQL failed at this scrape.", nil, nil),
	}
}

// Watch makes each scrape read c's queue depths and live executors.
func (m *Metrics) Watch(c *wf.Client) {
	m.mu.Lock()
	m.client = c
	m.mu.Unlock()
}

// WorkflowStarted records the wait of a first execution.
func (m *Metrics) WorkflowStarted(ctx context.Context, w wf.WorkflowEvent) context.Context {
	if w.Attempt == 1 && !w.Available.IsZero() {
		m.enqueueToStart.WithLabelValues(w.Queue).Observe(max(w.Started.Sub(w.Available), 0).Seconds())
	}
	return ctx
}

// WorkflowEnded counts the execution and records how long it ran.
func (m *Metrics) WorkflowEnded(_ context.Context, w wf.WorkflowEvent, outcome string, _ error) {
	m.executions.WithLabelValues(w.Name, outcome).Inc()
	m.executionTime.WithLabelValues(w.Name, outcome).Observe(time.Since(w.Started).Seconds())
}

// StepAttempt counts the attempt and records how long it took.
func (m *Metrics) StepAttempt(ctx context.Context, s wf.StepEvent) (context.Context, func(error)) {
	began := time.Now()
	return ctx, func(err error) {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		m.attempts.WithLabelValues(s.Step, outcome).Inc()
		m.attemptTime.WithLabelValues(s.Step, outcome).Observe(time.Since(began).Seconds())
	}
}

// CheckpointsWritten records a group commit.
func (m *Metrics) CheckpointsWritten(n int, took time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	} else {
		m.batchSize.Observe(float64(n))
	}
	m.commitTime.WithLabelValues(outcome).Observe(took.Seconds())
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.executions, m.executionTime, m.enqueueToStart, m.attempts, m.attemptTime, m.batchSize, m.commitTime}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
	ch <- m.queueDesc
	ch <- m.executorsDesc
	ch <- m.scrapeErrDesc
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
	m.mu.Lock()
	c := m.client
	m.mu.Unlock()
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
	defer cancel()
	failed := 0.0
	if depths, err := c.QueueDepths(ctx); err != nil {
		failed = 1
	} else {
		for _, d := range depths {
			for state, n := range map[string]int{"enqueued": d.Enqueued, "delayed": d.Delayed, "unrunnable": d.Unrunnable, "running": d.Running} {
				ch <- prometheus.MustNewConstMetric(m.queueDesc, prometheus.GaugeValue, float64(n), d.Queue, state)
			}
		}
	}
	if execs, err := c.Executors(ctx); err != nil {
		failed = 1
	} else {
		alive := 0
		for _, e := range execs {
			if e.Alive {
				alive++
			}
		}
		ch <- prometheus.MustNewConstMetric(m.executorsDesc, prometheus.GaugeValue, float64(alive))
	}
	ch <- prometheus.MustNewConstMetric(m.scrapeErrDesc, prometheus.GaugeValue, failed)
}

// WorkflowExecutions is the counter of workflow's executions that ended with outcome, for
// tests and dashboards of your own.
func (m *Metrics) WorkflowExecutions(workflow, outcome string) prometheus.Counter {
	return m.executions.WithLabelValues(workflow, outcome)
}

// StepAttempts is the counter of step's attempts with outcome ("ok" or "error").
func (m *Metrics) StepAttempts(step, outcome string) prometheus.Counter {
	return m.attempts.WithLabelValues(step, outcome)
}
