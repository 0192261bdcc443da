package dbschema

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The rewriter replaces every whole word "wfgen" in wfgen's SQL: that is only right while
// each one is the schema name. This pins that down for every file sqlc and the migrator read.
func TestEveryWfgenWordInTheSQLIsTheSchemaName(t *testing.T) {
	files, err := filepath.Glob("../../../queries/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	migrations, _ := filepath.Glob("../../../schema/*.sql")
	files = append(files, migrations...)
	if len(files) < 2 {
		t.Fatalf("found no SQL files (%v)", files)
	}
	schemaUse := regexp.MustCompile(`^(wfgen\.|wfgen\s*;|wfgen CASCADE)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "--") {
				continue // comments may say anything; rewriting them is harmless
			}
			for _, loc := range placeholder.FindAllStringIndex(line, -1) {
				if !schemaUse.MatchString(line[loc[0]:]) {
					t.Errorf("%s:%d: %q uses the word wfgen as something else than the schema name", f, i+1, strings.TrimSpace(line))
				}
			}
		}
	}
}

func TestRewriterQuotesTheConfiguredSchema(t *testing.T) {
	r := NewRewriter("tenant_7")
	got := r.SQL("SELECT id FROM wfgen.workflows w JOIN wfgen.steps s ON true -- wfgen_x stays")
	want := `SELECT id FROM "tenant_7".workflows w JOIN "tenant_7".steps s ON true -- wfgen_x stays`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if NewRewriter(Default).SQL("wfgen.x") != "wfgen.x" {
		t.Fatal("the default schema must not be rewritten")
	}
}

func TestValidateRefusesNamesThatNeedQuoting(t *testing.T) {
	for _, ok := range []string{"wfgen", "_x", "a1_b2"} {
		if err := Validate(ok); err != nil {
			t.Errorf("Validate(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Upper", "1a", "a-b", `a"b`, strings.Repeat("a", 64)} {
		if Validate(bad) == nil {
			t.Errorf("Validate(%q) accepted it", bad)
		}
	}
}
