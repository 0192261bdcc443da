package wf

import (
	"context"
	"time"

	"github.com/wfgen/wfgen/runtime/internal/db"
	"github.com/wfgen/wfgen/runtime/internal/retention"
)

// newRetention returns the service that deletes finished workflows older than
// Config.Retention.
func (c *Client) newRetention() (*retention.Service, error) {
	return retention.New(retention.Config{
		Delete:    c.deleteFinished,
		Retention: c.cfg.Retention,
		Interval:  c.cfg.RetentionInterval,
		Logger:    c.log,
	})
}

// deleteFinished deletes one batch of finished workflows that became final before cutoff.
func (c *Client) deleteFinished(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	n, err := c.q.DeleteFinished(ctx, db.DeleteFinishedParams{LockKey: "wfgen-retention:" + c.cfg.Schema, Cutoff: cutoff, BatchSize: int32(batch)})
	switch {
	case err != nil:
		return 0, c.dbError("deleting finished workflows", err)
	case n < 0:
		return 0, retention.ErrLocked
	}
	return int(n), nil
}

// DeleteFinished deletes up to batch workflows that became final before cutoff, with their
// steps, messages, events and streams, oldest first, and returns how many it deleted. Started
// clients do this by themselves (Config.Retention); call it to delete by hand, for example
// from an operator's script. It returns 0 while a client of the schema is deleting.
func (c *Client) DeleteFinished(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	n, err := c.deleteFinished(ctx, cutoff, batch)
	if err == retention.ErrLocked {
		return 0, nil
	}
	return n, err
}
