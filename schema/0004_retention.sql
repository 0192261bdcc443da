-- 0004_retention: finished workflows are deleted after Config.Retention, oldest first.

-- Retention walks finished workflows in completion order.
CREATE INDEX workflows_finished ON wfgen.workflows (completed_at)
    WHERE state IN ('succeeded', 'failed', 'cancelled', 'dead');
-- Messages of a deleted workflow are found by destination.
CREATE INDEX messages_destination ON wfgen.messages (destination_id);
