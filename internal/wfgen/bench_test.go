package wfgen

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// bigPackage returns a package with the given numbers of workflows and steps, each
// workflow calling two steps.
func bigPackage(workflows, steps int) []byte {
	var b strings.Builder
	b.WriteString(`package big

import (
	"context"
	"time"

	"github.com/wfgen/wfgen/runtime/wf"
)

type Input struct {
	ID       int64     ` + "`json:\"id\"`" + `
	Baseline time.Time ` + "`json:\"baseline\"`" + `
}

type Output struct {
	ID    int64
	Score float64
	Tags  []string
}
`)
	for i := range steps {
		fmt.Fprintf(&b, `
// Step%[1]d is step number %[1]d.
//
//wf:step retries=3 backoff=1s max_backoff=1m
func Step%[1]d(ctx context.Context, id int64, at time.Time) (Output, error) {
	return Output{ID: id, Score: float64(%[1]d)}, nil
}
`, i)
	}
	for i := range workflows {
		fmt.Fprintf(&b, `
// Workflow%[1]d is workflow number %[1]d.
//
//wf:workflow queue=q%[2]d timeout=1h
func Workflow%[1]d(ctx wf.Context, in Input) (Output, error) {
	a, err := Step%[3]dStep(ctx, in.ID, in.Baseline)
	if err != nil {
		return Output{}, err
	}
	b, err := Step%[4]dStep(ctx, a.ID, in.Baseline)
	if err != nil {
		return Output{}, err
	}
	return Output{ID: in.ID, Score: a.Score + b.Score}, nil
}
`, i, i%10, (2*i)%steps, (2*i+1)%steps)
	}
	return []byte(b.String())
}

// BenchmarkGenerate200Workflows400Steps generates one package of 200 workflows and 400
// steps whose wf_gen.go exists, as re-running go generate does. Besides the time per
// generation it reports the time of each phase: load (go list, parsing, type-checking),
// analyze (annotations, validation, code hashes), render (jennifer) and format (gofmt).
//
// "unchanged" regenerates an unchanged package: go list finds the package's export data
// in the build cache. "edited" changes a comment before each generation, as a user's edit
// does: go list then compiles the package (with its previous wf_gen.go) for export data,
// which the loader asks for, although only the dependencies' export data is used.
func BenchmarkGenerate200Workflows400Steps(b *testing.B) {
	src := bigPackage(200, 400)
	mod := newTestModule(b, "example.com/bench")
	mod.write(b, map[string][]byte{"big/big.go": src})
	res, err := mod.generate("./big")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Write(res.Files); err != nil {
		b.Fatal(err)
	}
	// Warm the build cache with the package as it now is, wf_gen.go included.
	if _, err := mod.generate("./big"); err != nil {
		b.Fatal(err)
	}
	for _, edit := range []bool{false, true} {
		name := "unchanged"
		if edit {
			name = "edited"
		}
		b.Run(name, func(b *testing.B) {
			var total Timings
			var size, n int
			for b.Loop() {
				if edit {
					b.StopTimer()
					n++
					mod.write(b, map[string][]byte{"big/big.go": fmt.Appendf(src, "\n// edit %d\n", n)})
					b.StartTimer()
				}
				res, err := mod.generate("./big")
				if err != nil {
					b.Fatal(err)
				}
				total.Load += res.Timings.Load
				total.Analyze += res.Timings.Analyze
				total.Render += res.Timings.Render
				total.Format += res.Timings.Format
				size = len(res.Files[0].Content)
			}
			perOp := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(perOp(total.Load), "load-ms/op")
			b.ReportMetric(perOp(total.Analyze), "analyze-ms/op")
			b.ReportMetric(perOp(total.Render), "render-ms/op")
			b.ReportMetric(perOp(total.Format), "format-ms/op")
			b.ReportMetric(float64(size), "generated-bytes")
		})
	}
}
