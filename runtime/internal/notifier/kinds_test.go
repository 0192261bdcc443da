package notifier_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/runtime/internal/notifier"
)

// queriesDir holds the runtime's SQL statements, relative to this package's directory.
const queriesDir = "../../../queries"

// sentBySQL is which statements notify, and the kinds each sends.
var sentBySQL = map[string][]notifier.Kind{
	"InsertWorkflows":  {notifier.KindEnqueued},
	"CancelWorkflow":   {notifier.KindCancelled, notifier.KindEnqueued},
	"RecoverWorkflows": {notifier.KindEnqueued},
	"ReleaseWorkflows": {notifier.KindEnqueued},
	"ResumeWorkflow":   {notifier.KindEnqueued},
	"ForkWorkflow":     {notifier.KindEnqueued},
}

// sentByGoOnly are the kinds that no statement sends: only the announcer does.
var sentByGoOnly = []notifier.Kind{notifier.KindCompleted, notifier.KindChanged}

// TestSQLNotificationsUseTheGoKinds reads every statement in queries/ and checks that each
// notification payload (a json_build_object with a 'k' key) names its kind as
// '<value>' /* notifier.<Constant> */ with a constant of this package that has that value,
// that its other keys are fields of Notification, and that the statements that notify send
// the kinds expected of them: a kind renamed on one side only, a payload whose kind Go does
// not know, or a statement that stopped notifying fails here.
func TestSQLNotificationsUseTheGoKinds(t *testing.T) {
	t.Parallel()
	kinds := goKinds(t)
	declared := slices.Collect(maps.Values(kinds))
	for _, k := range slices.Concat(slices.Concat(slices.Collect(maps.Values(sentBySQL))...), sentByGoOnly) {
		require.Contains(t, declared, k, "the test names a kind that is not a constant")
	}
	for name, k := range kinds {
		require.True(t, sentBySomeStatement(k) || slices.Contains(sentByGoOnly, k),
			"notifier.%s is neither sent by a statement nor listed in sentByGoOnly: say in this test who sends it", name)
	}
	fields := jsonFields(reflect.TypeFor[notifier.Notification]())

	files, err := filepath.Glob(filepath.Join(queriesDir, "*.sql"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no statements in %s", queriesDir)
	sent := map[string][]notifier.Kind{}
	for _, file := range files {
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, p := range notifications(t, file, string(src)) {
			for _, key := range p.keys {
				if !slices.Contains(fields, key) {
					t.Errorf("%s: notification key '%s' is not a field of notifier.Notification (%s)", p.pos, key, strings.Join(fields, ", "))
				}
			}
			m := kindRE.FindStringSubmatch(p.kind)
			if m == nil {
				t.Errorf("%s: notification kind %s: write it as '<value>' /* notifier.<Constant> */", p.pos, p.kind)
				continue
			}
			value, name := notifier.Kind(m[1]), m[2]
			switch want, ok := kinds[name]; {
			case !ok:
				t.Errorf("%s: notification kind '%s' names notifier.%s, which does not exist", p.pos, value, name)
			case want != value:
				t.Errorf("%s: notification kind '%s' names notifier.%s, whose value is %q", p.pos, value, name, want)
			}
			if !slices.Contains(sent[p.query], value) {
				sent[p.query] = append(sent[p.query], value)
			}
		}
	}
	require.Equal(t, sentBySQL, sent, "the statements that notify, and their kinds")
}

// keyRE matches a key of json_build_object.
var keyRE = regexp.MustCompile(`^'(\w+)'$`)

// kindRE matches the value of a notification's 'k' key: the kind, then the constant's name.
var kindRE = regexp.MustCompile(`^'([^']*)'\s*/\*\s*notifier\.(\w+)\s*\*/$`)

// payload is a notification built in SQL.
type payload struct {
	pos   string   // file:line
	query string   // the statement's name
	kind  string   // the value of key 'k', as written
	keys  []string // the other keys
}

// notifications returns the json_build_object calls in src that have a 'k' key.
func notifications(t *testing.T, file, src string) []payload {
	t.Helper()
	var out []payload
	query := ""
	for i := 0; i < len(src); i++ {
		if strings.HasPrefix(src[i:], "-- name: ") {
			query = strings.Fields(src[i+len("-- name: "):])[0]
		}
		const call = "json_build_object("
		if !strings.HasPrefix(src[i:], call) || (i > 0 && isIdent(src[i-1])) {
			continue
		}
		pos := file + ":" + strconv.Itoa(1+strings.Count(src[:i], "\n"))
		args := splitArgs(t, pos, src[i+len(call):])
		if !slices.Contains(args, "'k'") {
			continue // not a notification
		}
		p := payload{pos: pos, query: query}
		for j := 0; j+1 < len(args); j += 2 {
			m := keyRE.FindStringSubmatch(args[j])
			switch {
			case m == nil:
				t.Errorf("%s: notification key %s is not a string literal", pos, args[j])
			case m[1] == "k":
				p.kind = args[j+1]
			default:
				p.keys = append(p.keys, m[1])
			}
		}
		require.NotEmpty(t, query, "%s: a notification outside any -- name: statement", pos)
		out = append(out, p)
	}
	return out
}

// splitArgs returns the comma-separated arguments of a call whose opening parenthesis ends
// just before s, trimmed, with their comments.
func splitArgs(t *testing.T, pos, s string) []string {
	t.Helper()
	var args []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			require.GreaterOrEqual(t, end, 0, "%s: unterminated string", pos)
			i += end + 1
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i:], "*/")
			require.GreaterOrEqual(t, end, 0, "%s: unterminated comment", pos)
			i += end + 1
		case s[i] == '(':
			depth++
		case s[i] == ')' && depth > 0:
			depth--
		case s[i] == ')':
			return append(args, strings.TrimSpace(s[start:i]))
		case s[i] == ',' && depth == 0:
			args = append(args, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	t.Fatalf("%s: json_build_object( is not closed", pos)
	return nil
}

func isIdent(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// goKinds returns the constants of type Kind this package declares, by name, read from its
// source so that a constant added there is checked here too.
func goKinds(t *testing.T) map[string]notifier.Kind {
	t.Helper()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	kinds := map[string]notifier.Kind{}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "Kind" {
					continue
				}
				for i, name := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					require.True(t, ok && lit.Kind == token.STRING, "%s: Kind constants are string literals", fset.Position(name.Pos()))
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					kinds[name.Name] = notifier.Kind(v)
				}
			}
		}
	}
	require.NotEmpty(t, kinds)
	return kinds
}

// jsonFields returns the JSON names of a struct's fields.
func jsonFields(typ reflect.Type) []string {
	var out []string
	for f := range typ.Fields() {
		out = append(out, strings.Split(f.Tag.Get("json"), ",")[0])
	}
	return out
}

// sentBySomeStatement reports whether sentBySQL expects a statement to send kind k.
func sentBySomeStatement(k notifier.Kind) bool {
	for _, ks := range sentBySQL {
		if slices.Contains(ks, k) {
			return true
		}
	}
	return false
}
