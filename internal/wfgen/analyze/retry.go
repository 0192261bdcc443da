package analyze

import (
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/packages"

	"github.com/wfgen/wfgen/internal/wfgen/directive"
)

// retryIf resolves retry_if=F: F must be a function of the step's package with the
// signature func(error) bool, which wf.RetryIf takes. A function rather than a variable, so
// that the policy is fixed when the package is compiled and cannot change under a running
// workflow.
func (b *builder) retryIf(pkg *packages.Package, o directive.Option) string {
	name := o.Value
	if pkgName, _, ok := strings.Cut(name, "."); ok && token.IsIdentifier(pkgName) {
		b.sink.at(o.ValuePos, "retry_if: %s is not in package %s: name a function of this package, which may call it: func isRetryable(err error) bool", name, pkg.Name)
		return ""
	}
	if !token.IsIdentifier(name) {
		b.sink.at(o.ValuePos, "retry_if: %q is not a function name: name a function of package %s, such as retry_if=IsTransient", name, pkg.Name)
		return ""
	}
	obj := pkg.Types.Scope().Lookup(name)
	if obj == nil {
		b.sink.at(o.ValuePos, "retry_if: package %s has no function %s: declare func %s(err error) bool, which returns true for the errors worth retrying", pkg.Name, name, name)
		return ""
	}
	fn, ok := obj.(*types.Func)
	if !ok {
		b.sink.at(o.ValuePos, "retry_if: %s is a %s, not a function: name a func(error) bool declared with func, so that the policy cannot change at run time", name, objectKind(obj))
		return ""
	}
	sig := fn.Signature()
	errType := types.Universe.Lookup("error").Type()
	switch {
	case sig.TypeParams().Len() > 0:
		b.sink.at(o.ValuePos, "retry_if: %s is generic: name a plain func(error) bool", name)
		return ""
	case sig.Params().Len() != 1 || sig.Variadic() || !types.Identical(sig.Params().At(0).Type(), errType) ||
		sig.Results().Len() != 1 || !types.Identical(sig.Results().At(0).Type(), types.Typ[types.Bool]):
		b.sink.at(o.ValuePos, "retry_if: %s has signature %s; want func(error) bool", name, types.TypeString(sig, qualifier(pkg.Types)))
		return ""
	}
	return name
}

// objectKind names what a package-level object is, for messages.
func objectKind(obj types.Object) string {
	switch obj.(type) {
	case *types.Var:
		return "variable"
	case *types.Const:
		return "constant"
	case *types.TypeName:
		return "type"
	}
	return "declaration"
}
