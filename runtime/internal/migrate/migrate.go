// Package migrate applies the migrations of schema/ to a database.
//
// All migrations run in one transaction that first takes an advisory lock keyed by the
// schema name: replicas that start together queue up behind the first, which applies what is
// missing, and then find nothing left to do. A migration failure rolls everything back.
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/dbschema"
	"github.com/wfgen/wfgen/schema"
)

// Migration is one numbered file of schema/.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Beginner starts transactions; *pgxpool.Pool and *pgx.Conn implement it.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// All returns the embedded migrations in order.
func All() ([]Migration, error) {
	return load(schema.FS)
}

func load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[int]string{}
	for _, name := range names {
		prefix, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration file %s: name must be NNNN_description.sql", name)
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("migration files %s and %s have the same version %d", other, name, version)
		}
		seen[version] = name
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: version, Name: strings.TrimSuffix(path.Base(name), ".sql"), SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Up applies the migrations that the schema lacks and returns the names of those it
// applied ("0001_init"), in order; none when the schema was up to date.
func Up(ctx context.Context, conn Beginner, rw *dbschema.Rewriter) ([]string, error) {
	migrations, err := All()
	if err != nil {
		return nil, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit

	q := db.New(rw.Wrap(tx))
	if err := q.LockMigrations(ctx, rw.Schema()); err != nil {
		return nil, fmt.Errorf("locking migrations: %w", err)
	}
	applied := map[int]bool{}
	exists, err := q.MigrationsTableExists(ctx, rw.Schema())
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	if exists {
		versions, err := q.AppliedMigrations(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading migrations: %w", err)
		}
		for _, v := range versions {
			applied[int(v)] = true
		}
	}
	var ran []string
	for _, m := range migrations {
		if applied[m.Version] {
			continue
		}
		if _, err := tx.Exec(ctx, rw.SQL(m.SQL)); err != nil {
			return nil, fmt.Errorf("applying migration %s: %w", m.Name, err)
		}
		if err := q.RecordMigration(ctx, db.RecordMigrationParams{Version: int32(m.Version), Name: m.Name}); err != nil {
			return nil, fmt.Errorf("recording migration %s: %w", m.Name, err)
		}
		ran = append(ran, m.Name)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("committing migrations: %w", err)
	}
	return ran, nil
}
