-- 0013_unkeyed_partition: a workflow without a partition key in a partitioned queue no
-- longer waits behind a backlog of partitions at their limit.
--
-- A claim of a partitioned queue finds the workflows of every partition with one index probe
-- each (workflows_partitions, 0010), but that index holds only workflows with a key: one
-- without was found only among the queue's first available workflows (200, or ten per free
-- slot), and behind one tenant's long backlog it waited until the backlog shrank. Such
-- workflows now get the key '' when enqueued into a queue a worker declared partitioned
-- (InsertWorkflows, DebounceWorkflow, UpsertQueue): the partition '' has no limit, and the
-- claim visits it as it visits the others. This gives the waiting ones the key too.
UPDATE wfgen.workflows w
SET partition_key = ''
FROM wfgen.queues q
WHERE q.name = w.queue AND q.partition_concurrency > 0
  AND w.state = 'enqueued' AND w.partition_key IS NULL;
