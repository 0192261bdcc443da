package db

// Written by hand, next to sqlc's output: the text of the statements that the runtime sends
// in a batch before another (dbschema.Prefixed) rather than through Queries.

// DisableJITSQL is the statement of DisableJIT.
const DisableJITSQL = disableJIT
