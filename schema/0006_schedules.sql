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
