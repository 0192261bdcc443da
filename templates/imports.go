package templates

// Import paths of the packages generated code uses.
const (
	wfPath      = "github.com/wfgen/wfgen/runtime/wf"
	contextPath = "context"
	timePath    = "time"
	iterPath    = "iter"
	pgxPath     = "github.com/jackc/pgx/v5"
	unsafePath  = "unsafe"
)

// importNames are the names generated code refers to those packages by. jennifer would
// otherwise guess them from the paths, and alias "github.com/jackc/pgx/v5" as v5.
var importNames = map[string]string{
	wfPath:      "wf",
	contextPath: "context",
	timePath:    "time",
	iterPath:    "iter",
	pgxPath:     "pgx",
	unsafePath:  "unsafe",
}
