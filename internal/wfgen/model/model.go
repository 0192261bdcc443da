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
	Channels  []*Channel
	// QueueRefs are the other packages' queue variables that the workflows' queue= options
	// name, in order of first use: Register registers them with the workflows.
	QueueRefs []QueueRef
	// Deps are the receiver types of the package's method steps, in the order of their
	// first step: Register takes one value of each.
	Deps []*Dep
}

// Dep is a type whose methods are steps. Register takes a pointer to one value of it and
// provides it to the client, where the steps' replay wrappers find it.
type Dep struct {
	Type  string // the named type of the package, without the pointer
	Param string // Register's parameter, named to shadow nothing its body uses
}

// Workflow is a function annotated //wf:workflow or //wf:scheduled.
type Workflow struct {
	Func string // the annotated function
	Name string // the stable name it is registered and stored under

	// In is the input type, nil when the function takes only the wf.Context.
	In types.Type
	// Out is the output type, nil when the function returns only an error.
	Out types.Type

	// Queue is the default queue; the zero value leaves the runtime's default.
	Queue QueueRef
	// MaxRecoveries is nil when the annotation leaves the runtime's default.
	MaxRecoveries *int
	// Timeout is 0 when the annotation sets none.
	Timeout time.Duration
	// CodeHash identifies the workflow's code (see package codehash).
	CodeHash string

	// Schedule is set for //wf:scheduled workflows, whose input is a wf.Tick.
	Schedule *Schedule

	// ExpectedSteps is the number of step IDs a successful run consumes, when the
	// workflow's body fixes it (see package progress); 0 when it does not.
	ExpectedSteps int

	// The package's channels the workflow (or a function of its package it calls) uses,
	// in the order of Package.Channels: events it sets, topics it receives from and
	// streams it appends to. Its handle gets typed accessors for each.
	Events  []*Channel
	Topics  []*Channel
	Streams []*Channel
}

// Schedule is the cron schedule of a //wf:scheduled workflow.
type Schedule struct {
	Cron     string        // validated with wf.ParseCron
	Timezone string        // empty: the runtime's default (UTC)
	Queue    QueueRef      // zero: the workflow's queue
	Backfill time.Duration // 0: missed ticks are skipped
}

// Step is a function or method annotated //wf:step.
type Step struct {
	Func string // the annotated function, or the method's name
	Name string // the stable name its checkpoints are recorded under
	// Recv is the receiver of a method step (whose receiver is a pointer to it), nil for a
	// function.
	Recv *Dep
	// Tx is set for //wf:step tx: the step takes a pgx.Tx after its context.Context and
	// runs in a transaction that commits its checkpoint too.
	Tx bool

	// Params are the parameters after the context.Context (and the pgx.Tx of a
	// transactional step), with names safe to use in the generated wrapper.
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
	// Jitter is nil when the annotation leaves the runtime's default (it may be set to 0).
	Jitter *float64
	// RetryIf names a function of the package, func(error) bool, that says which errors are
	// retried; empty retries every error.
	RetryIf string
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

// QueueRef is the queue a queue= option names: by its name, or by the Go identifier of a
// package-level *wf.Queue variable (Reports, or queues.Reports for another package's).
type QueueRef struct {
	// Name is the queue's name: the option's value, or the constant name the referenced
	// variable's wf.NewQueue declares; "" when that is not known at generate time.
	Name string
	// Var is the referenced variable, "" when the option names the queue by its name. The
	// generated code reads the name from the variable, so it is never written twice.
	Var string
	// Path and PkgName are the import path and name of Var's package, when it is not the
	// annotated package.
	Path, PkgName string
}

// IsZero reports whether the option names no queue.
func (q QueueRef) IsZero() bool { return q.Name == "" && q.Var == "" }

// ChannelKind says which runtime type a Channel is.
type ChannelKind int

// The kinds of channels.
const (
	Event  ChannelKind = iota // *wf.Event[T]: a value a workflow publishes under a key
	Topic                     // *wf.Topic[T]: messages sent to a workflow
	Stream                    // *wf.Stream[T]: values a workflow appends, read in order
)

// Channel is a package-level variable of type *wf.Event[T], *wf.Topic[T] or
// *wf.Stream[T], declared with wf.NewEvent, wf.NewTopic or wf.NewStream.
type Channel struct {
	Var  string
	Kind ChannelKind
	// Elem is T, the type of the values it carries.
	Elem types.Type
}
