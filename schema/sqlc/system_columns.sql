-- For sqlc only: never applied to a database (the runtime embeds schema/*.sql, not this
-- folder, and `wfgen migrate` applies the same).
--
-- sqlc v1.31 does not know PostgreSQL's system columns (sqlc issue 1745): a query that reads
-- ctid fails to generate with `column "ctid" does not exist`. This declares ctid to sqlc as
-- an ordinary column of the tables whose queries read it. sqlc expands * itself, so a
-- SELECT * of such a table names ctid in the generated SQL, which PostgreSQL serves like
-- any column; the generated code and the server agree.
ALTER TABLE wfgen.workflows ADD COLUMN ctid tid;
