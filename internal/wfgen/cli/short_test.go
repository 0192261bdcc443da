package cli

import "testing"

func TestShortCutsCharactersNotBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"order-42", 10, "order-42"},
		{"commande-reçue-0042", 10, "commande-…"},
		{"échéancier", 10, "échéancier"}, // ten characters, thirteen bytes: fits
		{"日本語のワークフロー", 5, "日本語の…"},
	} {
		if got := short(c.in, c.n); got != c.want {
			t.Errorf("short(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
