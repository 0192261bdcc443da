package wf

import "testing"

// BenchmarkRoundTrip measures what a step's first run pays to see its output as a replay
// would, for outputs that decode to themselves (skipped) and for one that must be decoded.
func BenchmarkRoundTrip(b *testing.B) {
	type report struct {
		ID    int    `json:"id"`
		Title string `json:"title"`
	}
	b.Run("struct{}", func(b *testing.B) {
		for range b.N {
			if _, _, err := roundTrip("s", 1, struct{}{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("int", func(b *testing.B) {
		for range b.N {
			if _, _, err := roundTrip("s", 1, 42); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("struct", func(b *testing.B) {
		for range b.N {
			if _, _, err := roundTrip("s", 1, report{ID: 7, Title: "weekly"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
