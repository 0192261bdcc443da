-- 0006_schedules: the schedules each executor fires, so that operators see every schedule
-- with its last and next tick.

-- schedules holds the schedules an executor registered, written when it starts, in place of
-- those it registered before. timezone is the IANA name the spec is read in; queue is the
-- queue the ticks' workflows are enqueued on.
CREATE TABLE wfgen.schedules (
    executor_id text NOT NULL REFERENCES wfgen.executors (id) ON DELETE CASCADE,
    workflow    text NOT NULL,
    spec        text NOT NULL,
    timezone    text NOT NULL,
    queue       text NOT NULL,
    PRIMARY KEY (executor_id, workflow)
);

-- A schedule's last tick is the greatest tick ID of its workflow ("<workflow>@<RFC 3339 UTC
-- time>", so byte order is time order). This index finds it without reading the workflow's
-- other runs; it holds only IDs with an "@", so other inserts do not pay for it.
CREATE INDEX workflows_ticks ON wfgen.workflows (name, id COLLATE "C") WHERE strpos(id, '@') > 0;
