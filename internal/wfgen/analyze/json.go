package analyze

import (
	"fmt"
	"go/types"
	"reflect"
	"strings"
)

// jsonProblem explains why values of type t cannot make a round trip through
// encoding/json (the runtime stores workflow inputs and outputs and step outputs as JSON),
// or returns "" when they can. The explanation names the path to the offending part, such
// as "field Done (chan int): channels cannot be encoded to JSON".
func jsonProblem(t types.Type, q types.Qualifier) string {
	c := jsonChecker{q: q, seen: map[types.Type]bool{}}
	return c.check(t)
}

type jsonChecker struct {
	q    types.Qualifier
	seen map[types.Type]bool // named types being checked: recursive types are fine
}

func (c *jsonChecker) check(t types.Type) string {
	if _, named := types.Unalias(t).(*types.Named); named {
		if c.seen[t] {
			return ""
		}
		c.seen[t] = true
	}
	if hasCodec(t) {
		return "" // the type encodes and decodes itself
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Info()&types.IsComplex != 0:
			return "complex numbers cannot be encoded to JSON"
		case u.Kind() == types.UnsafePointer:
			return "unsafe pointers cannot be encoded to JSON"
		}
	case *types.Chan:
		return "channels cannot be encoded to JSON"
	case *types.Signature:
		return "functions cannot be encoded to JSON"
	case *types.Pointer:
		return c.check(u.Elem())
	case *types.Slice:
		return c.inside("element", u.Elem())
	case *types.Array:
		return c.inside("element", u.Elem())
	case *types.Map:
		if !validMapKey(u.Key()) {
			return fmt.Sprintf("map key type %s cannot be encoded to JSON: use strings, integers or a type with MarshalText and UnmarshalText", types.TypeString(u.Key(), c.q))
		}
		return c.inside("map value", u.Elem())
	case *types.Interface:
		if !u.Empty() {
			return fmt.Sprintf("interface type %s cannot be decoded from JSON, which does not say which concrete type to make: use a concrete type", types.TypeString(t, c.q))
		}
	case *types.Struct:
		return c.checkStruct(t, u)
	}
	return ""
}

func (c *jsonChecker) inside(what string, t types.Type) string {
	if p := c.check(t); p != "" {
		return fmt.Sprintf("%s (%s): %s", what, types.TypeString(t, c.q), p)
	}
	return ""
}

func (c *jsonChecker) checkStruct(t types.Type, s *types.Struct) string {
	if s.NumFields() > 0 && !hasJSONFields(s, map[*types.Struct]bool{}) {
		return fmt.Sprintf("struct type %s has no exported fields, so it encodes as {} and loses its data: export the fields or give the type MarshalJSON and UnmarshalJSON methods", types.TypeString(t, c.q))
	}
	for i := range s.NumFields() {
		f := s.Field(i)
		if !jsonVisible(f, s.Tag(i)) {
			continue
		}
		if p := c.inside("field "+f.Name(), f.Type()); p != "" {
			return p
		}
	}
	return ""
}

// jsonVisible reports whether encoding/json reads and writes a field: exported and not
// tagged "-", or embedded (it promotes the exported fields of an embedded struct, even
// one of an unexported type).
func jsonVisible(f *types.Var, tag string) bool {
	if reflect.StructTag(tag).Get("json") == "-" {
		return false
	}
	if f.Embedded() {
		if _, isStruct := deref(f.Type()).Underlying().(*types.Struct); isStruct {
			return true
		}
	}
	return f.Exported()
}

// hasJSONFields reports whether encoding/json sees any field of s.
func hasJSONFields(s *types.Struct, seen map[*types.Struct]bool) bool {
	if seen[s] {
		return false
	}
	seen[s] = true
	for i := range s.NumFields() {
		f := s.Field(i)
		if !jsonVisible(f, s.Tag(i)) {
			continue
		}
		if f.Embedded() {
			if hasCodec(f.Type()) {
				return true
			}
			if inner, ok := deref(f.Type()).Underlying().(*types.Struct); ok {
				if hasJSONFields(inner, seen) || f.Exported() && inner.NumFields() == 0 {
					return true
				}
				continue
			}
		}
		return true
	}
	return false
}

func deref(t types.Type) types.Type {
	if p, ok := t.Underlying().(*types.Pointer); ok {
		return p.Elem()
	}
	return t
}

// validMapKey reports whether encoding/json accepts t as a map key.
func validMapKey(t types.Type) bool {
	if b, ok := t.Underlying().(*types.Basic); ok && b.Info()&(types.IsString|types.IsInteger) != 0 {
		return true
	}
	return hasMethod(t, "MarshalText") && hasMethod(t, "UnmarshalText")
}

// hasCodec reports whether t encodes and decodes itself, as time.Time does: with
// MarshalJSON and UnmarshalJSON, or MarshalText and UnmarshalText (decoding calls them on
// a pointer, so the pointer's method set counts).
func hasCodec(t types.Type) bool {
	if _, isInterface := t.Underlying().(*types.Interface); isInterface {
		return false
	}
	return hasMethod(t, "MarshalJSON") && hasMethod(t, "UnmarshalJSON") ||
		hasMethod(t, "MarshalText") && hasMethod(t, "UnmarshalText")
}

func hasMethod(t types.Type, name string) bool {
	obj, _, _ := types.LookupFieldOrMethod(types.NewPointer(t), false, nil, name)
	fn, ok := obj.(*types.Func)
	if !ok {
		return false
	}
	sig := fn.Signature()
	if strings.HasPrefix(name, "Marshal") {
		return sig.Params().Len() == 0 && sig.Results().Len() == 2
	}
	return sig.Params().Len() == 1 && sig.Results().Len() == 1
}
