-- 0011_executor_instance: which process holds an executor ID.
--
-- An executor's row is taken over by any process that starts under its ID: rightly by a
-- restart of a process that died, wrongly by a second live process configured with the same
-- ID. Each registration now writes a random instance, and each lease renewal reads it back,
-- so that a process whose row another one took over while it runs can say so.
ALTER TABLE wfgen.executors ADD COLUMN instance text;
