package compare

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// walRecord is one kind of WAL record a phase wrote (pg_walinspect's resource manager and
// record type, such as Heap/UPDATE), with how many and their bytes, full-page images
// included.
type walRecord struct {
	kind     string
	count    int64
	bytes    int64
	fpiBytes int64
}

// enableWALRecords prepares -wal-records: it creates pg_walinspect (PostgreSQL 15 or later,
// and a superuser, as CHECKPOINT needs) unless it exists.
func (e *env) enableWALRecords(ctx context.Context) error {
	if _, err := e.mon.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_walinspect"); err != nil {
		return fmt.Errorf("-wal-records needs the pg_walinspect extension (PostgreSQL 15 or later, created by a superuser): %w", err)
	}
	return nil
}

// walRecords reads the WAL between two insert positions of the probe (bytes since 0/0) and
// returns its records by kind, the most bytes first. It waits for the end to be flushed:
// pg_walinspect reads only flushed WAL.
func (e *env) walRecords(ctx context.Context, from, to int64) ([]walRecord, error) {
	const flushed = "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint"
	for deadline := time.Now().Add(5 * time.Second); ; {
		var at int64
		if err := e.mon.QueryRow(ctx, flushed).Scan(&at); err != nil {
			return nil, err
		}
		if at >= to {
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the phase's WAL was not flushed within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rows, err := e.mon.Query(ctx, `SELECT "resource_manager/record_type", count, combined_size, fpi_size
		FROM pg_get_wal_stats('0/0'::pg_lsn + $1::numeric, '0/0'::pg_lsn + $2::numeric, true)
		WHERE count > 0 ORDER BY combined_size DESC`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var recs []walRecord
	for rows.Next() {
		var r walRecord
		if err := rows.Scan(&r.kind, &r.count, &r.bytes, &r.fpiBytes); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, rows.Err()
}

// printWALRecords prints a phase's WAL records per unit of work, the kinds that make 98% of
// its bytes.
func printWALRecords(e *env, round int, system, what string, o outcome, unit string) {
	if len(o.wal) == 0 {
		return
	}
	var count, bytes, fpi int64
	for _, r := range o.wal {
		count, bytes, fpi = count+r.count, bytes+r.bytes, fpi+r.fpiBytes
	}
	n := float64(o.units)
	var b strings.Builder
	fmt.Fprintf(&b, "round %d/%d  %-5s  %-22s WAL per %s: %.1f records, %.0f bytes (full-page images %.0f):",
		round, e.cfg.rounds, system, what, unit, float64(count)/n, float64(bytes)/n, float64(fpi)/n)
	var shown int64
	for _, r := range o.wal {
		if shown >= bytes*98/100 {
			break
		}
		shown += r.bytes
		fmt.Fprintf(&b, " %s %.2f (%.0f B)", r.kind, float64(r.count)/n, float64(r.bytes)/n)
	}
	fmt.Fprintln(e.log, b.String())
}
