// Package schema holds wfgen's numbered SQL migrations. sqlc reads the same files as the
// schema of the runtime's queries; the runtime embeds them and applies them on start (or
// through `wfgen migrate`).
//
// Migrations are named NNNN_description.sql and are applied in order, each once, under an
// advisory lock. Once a migration has been released it never changes: changes go in a new
// file.
package schema

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
