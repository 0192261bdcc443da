-- 0010_partition_heads: a partitioned queue's claim skips a partition at its limit in one
-- index probe, however many of its workflows wait.
--
-- The claim of a partitioned queue read the queue in order until it had enough workflows of
-- partitions below their limit, so each of its claims walked past every waiting workflow of
-- a partition at its limit: a tenant with 100,000 queued made every other tenant's
-- workflows wait about 300 ms per claim, with the queue's lock held. This index lists each
-- partition's waiting workflows in queue order, so that the claim can visit the partitions
-- instead (one probe each) when the queue's head holds too few it may start. Only workflows
-- with a partition key are in it: other queues' enqueues do not pay for it.
--
-- Its predicate says enqueued as a range of one value, and so do the statements that read
-- it: the dequeue index's predicate (state = 'enqueued') cannot be proven from that, so the
-- planner cannot read a partition through the dequeue index instead, filtering and sorting
-- the whole queue. A generic plan made while the table was nearly empty did just that for
-- each partition it visited (7 s a claim with 1,000 tenants of 20 workflows each).
CREATE INDEX workflows_partitions ON wfgen.workflows (queue, partition_key, priority, available_at, seq)
    WHERE partition_key IS NOT NULL AND state >= 'enqueued' AND state <= 'enqueued';
