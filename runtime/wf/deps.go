package wf

import (
	"errors"
	"fmt"
	"reflect"
)

// ErrMissingDependency is the error of a step whose dependency (see Dep) was not registered
// on the client running its workflow.
var ErrMissingDependency = errors.New("wf: dependency not registered")

// Provide returns a Definition that makes v the value of type *T that the steps of
// workflows running on the client reach through Dep: a database pool, an HTTP client, a
// configuration. Steps written as methods of a type T get their receiver this way; the
// generated Register takes one value per such type and provides it, so each worker (and
// each test) registers its own dependencies and no package variable is needed.
//
// Registering a nil v fails, as does registering two different values of one type on one
// client; registering the same value again does nothing.
func Provide[T any](v *T) Definition { return provided[T]{v} }

type provided[T any] struct{ v *T }

func (p provided[T]) register(c *Client) error {
	if p.v == nil {
		return fmt.Errorf("wf: Register: the %s given is nil: pass the value its steps use", typeName[*T]())
	}
	key := reflect.TypeFor[T]()
	if prev, dup := c.deps[key]; dup && prev != any(p.v) {
		return fmt.Errorf("wf: Register: two different %s values given to one client: steps would not know which to use", typeName[*T]())
	}
	c.deps[key] = p.v
	return nil
}

// Dep returns the value of type *T registered with Provide on the client that runs the
// workflow ctx belongs to. The generated replay wrapper of a step that is a method of T
// calls it to find the step's receiver. It returns an error wrapping ErrMissingDependency
// when the client has none: a worker that runs the workflow must register one.
func Dep[T any](ctx Context) (*T, error) {
	x := ctx.execution()
	// Definitions are registered before Start and never after, so reading them needs no
	// lock once workflows run.
	v, ok := x.c.deps[reflect.TypeFor[T]()]
	if !ok {
		return nil, fmt.Errorf("%w: workflow %q (ID %s) calls a step of %s, and the client running it has none: pass one to the generated Register (or register wf.Provide(v)) on every worker",
			ErrMissingDependency, x.wf.name, x.id, typeName[*T]())
	}
	return v.(*T), nil
}
