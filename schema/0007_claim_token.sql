-- 0007_claim_token: a fencing token that no claim can reuse, so that a claim may commit
-- without waiting for its WAL flush.

-- claim_token is chosen at random by each claim (a dequeue; 0 for a workflow started
-- directly, which its own insert owns). Every write an owner makes is fenced by it along with
-- attempt: a claim lost in a server crash is taken again under the same attempt, but never
-- under the same token, so the lost claim's execution can write nothing.
ALTER TABLE wfgen.workflows ADD COLUMN claim_token bigint NOT NULL DEFAULT 0;
