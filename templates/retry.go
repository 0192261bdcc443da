package templates

import (
	"math"

	"github.com/dave/jennifer/jen"

	"github.com/wfgen/wfgen/internal/wfgen/model"
)

// retryOptions renders the step options that say which failures are retried and how their
// retries spread out: jitter=, retry_if=.
func retryOptions(s *model.Step) []jen.Code {
	var opts []jen.Code
	if s.Jitter != nil {
		opts = append(opts, jen.Qual(wfPath, "Jitter").Call(fractionCode(*s.Jitter)))
	}
	if s.RetryIf != "" {
		opts = append(opts, jen.Qual(wfPath, "RetryIf").Call(jen.Id(s.RetryIf)))
	}
	return opts
}

// fractionCode renders 0 and 1 as such rather than as 0.0 and 1.0.
func fractionCode(f float64) jen.Code {
	if f == math.Trunc(f) {
		return jen.Lit(int(f))
	}
	return jen.Lit(f)
}
