-- 0013_unkeyed_partition: a workflow without a partition key in a partitioned queue no
-- longer waits behind a backlog of partitions at their limit.
--
-- A claim of a partitioned queue finds the workflows of every partition with one index probe
-- each (workflows_partitions, 0010), but that index holds only workflows with a key: one
-- without was found only among the queue's first available workflows (200, or ten per free
-- slot), and behind one tenant's long backlog it waited until the backlog shrank. Such
-- workflows now get the empty key ('') when enqueued, debounced or forked into a queue a
-- worker declared partitioned, or when a worker's start declares it so (InsertWorkflows,
-- DebounceWorkflow, ForkWorkflow, UpsertQueue): the empty key's partition has no limit, and
-- the claim visits it as it visits the others. This gives the waiting ones the key too.
-- A worker of an earlier version, during a rolling upgrade, caps the empty key's partition
-- as it caps the others, until it is replaced.
UPDATE wfgen.workflows w
SET partition_key = ''
FROM wfgen.queues q
WHERE q.name = w.queue AND q.partition_concurrency > 0
  AND w.state = 'enqueued' AND w.partition_key IS NULL;
