// Package model is the typed description of an annotated package that the templates render
// into wf_gen.go: its workflows, steps, schedules and queues, validated and with every
// option resolved. Building it is the analyzer's job; the templates only read it.
package model

import (
	"go/types"
	"time"
)

// Package is one Go package with wfgen annotations.
type Package struct {
	Path string // import path
	Name string // package name
	Dir  string // directory, where wf_gen.go goes

	// In source order (file name, then offset).
	Workflows []*Workflow
	Steps     []*Step
	Queues    []*Queue
}

// Workflow is a function annotated //wf:workflow or //wf:scheduled.
type Workflow struct {
	Func string // the annotated function
	Name string // the stable name it is registered and stored under

	// In is the input type, nil when the function takes only the wf.Context.
	In types.Type
	// Out is the output type, nil when the function returns only an error.
	Out types.Type

	// Queue is the default queue; empty leaves the runtime's default.
	Queue string
	// MaxRecoveries is nil when the annotation leaves the runtime's default.
	MaxRecoveries *int
	// Timeout is 0 when the annotation sets none.
	Timeout time.Duration
	// CodeHash identifies the workflow's code (see package codehash).
	CodeHash string

	// Schedule is set for //wf:scheduled workflows, whose input is a wf.Tick.
	Schedule *Schedule
}

// Schedule is the cron schedule of a //wf:scheduled workflow.
type Schedule struct {
	Cron     string        // validated with wf.ParseCron
	Timezone string        // empty: the runtime's default (UTC)
	Queue    string        // empty: the workflow's queue
	Backfill time.Duration // 0: missed ticks are skipped
}

// Step is a function annotated //wf:step.
type Step struct {
	Func string // the annotated function
	Name string // the stable name its checkpoints are recorded under

	// Params are the parameters after the context.Context, with names safe to use in the
	// generated wrapper.
	Params []Param
	// Variadic is set when the last parameter is variadic (its Type is then the slice).
	Variadic bool
	// Out is the output type, nil when the function returns only an error.
	Out types.Type

	// Retry policy; zero values (and a nil Backoff, which may be set to 0) leave the
	// runtime's defaults.
	MaxAttempts int // total attempts: retries+1
	Backoff     *time.Duration
	MaxBackoff  time.Duration
	Factor      float64
	Timeout     time.Duration
}

// Param is a step parameter.
type Param struct {
	Name string
	Type types.Type
}

// Queue is a package-level variable of type *wf.Queue.
type Queue struct {
	Var string
}
