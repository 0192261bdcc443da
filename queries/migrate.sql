-- name: LockMigrations :exec
-- LockMigrations serializes migrators of one schema until their transaction ends, so that
-- replicas starting together apply each migration exactly once.
SELECT pg_advisory_xact_lock(2003265126, hashtext(@schema_name::text));

-- name: MigrationsTableExists :one
SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_tables
    WHERE schemaname = @schema_name::text AND tablename = 'migrations'
);

-- name: AppliedMigrations :many
SELECT version FROM wfgen.migrations ORDER BY version;

-- name: RecordMigration :exec
INSERT INTO wfgen.migrations (version, name) VALUES (@version, @name);

-- name: DropSchema :exec
-- DropSchema removes wfgen's schema with everything in it (tests use one schema each).
DROP SCHEMA IF EXISTS wfgen CASCADE;
