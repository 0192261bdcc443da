package db

// Written by hand, next to sqlc's output: the text of the statements that the runtime sends
// in a batch with another (dbschema.Prefixed, dbschema.CommitThen) rather than through
// Queries.

// HotStatementSettingsSQL is the statement of HotStatementSettings.
const HotStatementSettingsSQL = hotStatementSettings

// LockSuspendingSQL is the statement of LockSuspending, and LockSuspendingArgs its
// arguments in the order the statement takes them: the checkpoint writer sends it before
// WriteCheckpoints, in one batch, when the batch suspends Recvs.
const LockSuspendingSQL = lockSuspending

// LockSuspendingArgs returns arg as LockSuspending passes it.
func LockSuspendingArgs(arg LockSuspendingParams) []any {
	return []any{arg.Ids, arg.Attempts, arg.ClaimTokens}
}

// AnnounceSQL is the statement of Announce, and AnnounceArgs its arguments in the order the
// statement takes them: an idle Enqueue sends it after its insert's commit, in one batch.
const AnnounceSQL = announce

// AnnounceArgs returns arg as Announce passes it.
func AnnounceArgs(arg AnnounceParams) []any {
	return []any{arg.Channel, arg.Payloads}
}
