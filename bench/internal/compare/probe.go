package compare

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// clockTicks is USER_HZ, the unit of CPU times in /proc: 100 on every Linux platform Go
// supports.
const clockTicks = 100

// probe reads the counters that say what a phase cost: write transactions, WAL, CPU.
type probe struct {
	conn       *pgx.Conn // the monitor connection; it only reads
	postmaster int       // PID of the local server's postmaster, 0 when not measurable
}

// reading is the value of every counter at one instant.
type reading struct {
	at       time.Time
	nextXID  int64 // the next transaction ID to be assigned
	walBytes int64 // the WAL insert position
	goCPU    time.Duration
	pgCPU    time.Duration // -1 when the server's processes cannot be read
	machBusy int64         // busy jiffies of the whole machine, -1 when unknown
	stmts    map[string]int64
}

// cost is what a phase consumed: the difference of two readings.
type cost struct {
	wall      time.Duration
	writeTxns int64 // transactions that were assigned a transaction ID: those that wrote
	walBytes  int64
	goCPU     time.Duration
	pgCPU     time.Duration // -1 when unknown
	otherCPU  time.Duration // CPU used by other processes on the machine; -1 when unknown
	stmts     map[string]int64
}

// outcome is what one timed phase measured.
type outcome struct {
	units   int           // workflows, jobs or enqueues done
	elapsed time.Duration // the timed interval
	cost    cost          // measured around it

	breakdown *breakdown  // wfgen work phases: where a workflow's time went
	wal       []walRecord // work phases with -wal-records: the WAL they wrote, by kind
}

// statements returns the number of statements sent, which approximates round trips.
func (c cost) statements() int64 {
	var n int64
	for _, v := range c.stmts {
		n += v
	}
	return n
}

func newProbe(ctx context.Context, conn *pgx.Conn) (*probe, error) {
	p := &probe{conn: conn}
	var version int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return nil, err
	}
	if version < 130000 {
		return nil, fmt.Errorf("PostgreSQL %d is too old for the benchmark's counters: it needs 13 or later", version)
	}
	p.postmaster = findPostmaster(ctx, conn)
	return p, nil
}

// findPostmaster returns the PID of the server's postmaster when the server runs on this
// machine and its processes are readable in /proc, else 0.
func findPostmaster(ctx context.Context, conn *pgx.Conn) int {
	host := conn.Config().Host
	if !strings.HasPrefix(host, "/") {
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return 0
		}
	}
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0
	}
	st, err := readStat(backend)
	if err != nil || st.comm != "postgres" {
		return 0
	}
	parent, err := readStat(st.ppid)
	if err != nil || parent.comm != "postgres" {
		return 0
	}
	return st.ppid
}

func (p *probe) read(ctx context.Context, stmts *statementCounter) (reading, error) {
	r := reading{pgCPU: -1, machBusy: -1}
	// Exact counters, unlike pg_stat_database and pg_stat_wal, which backends flush lazily
	// (up to 10 s late when idle). Reading them assigns no transaction ID.
	const q = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint, (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint"
	if err := p.conn.QueryRow(ctx, q).Scan(&r.nextXID, &r.walBytes); err != nil {
		return r, fmt.Errorf("reading server counters: %w", err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		r.goCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if p.postmaster != 0 {
		r.pgCPU = serverCPU(p.postmaster)
	}
	r.machBusy = machineBusy()
	if stmts != nil {
		r.stmts = stmts.snapshot()
	}
	r.at = time.Now()
	return r, nil
}

// since returns the cost from an earlier reading to this one.
func (r reading) since(before reading) cost {
	c := cost{
		wall:      r.at.Sub(before.at),
		writeTxns: r.nextXID - before.nextXID,
		walBytes:  r.walBytes - before.walBytes,
		goCPU:     r.goCPU - before.goCPU,
		pgCPU:     -1,
		otherCPU:  -1,
		stmts:     map[string]int64{},
	}
	if r.pgCPU >= 0 && before.pgCPU >= 0 {
		c.pgCPU = r.pgCPU - before.pgCPU
	}
	if r.machBusy >= 0 && before.machBusy >= 0 && c.pgCPU >= 0 {
		busy := ticks(r.machBusy - before.machBusy)
		c.otherCPU = max(busy-c.goCPU-c.pgCPU, 0)
	}
	for k, v := range r.stmts {
		if d := v - before.stmts[k]; d > 0 {
			c.stmts[k] = d
		}
	}
	return c
}

// serverCPU returns the CPU time used by the server so far: its live processes, plus the
// processes that exited (connections closed), which the postmaster reaped into its
// children's times.
func serverCPU(postmaster int) time.Duration {
	pm, err := readStat(postmaster)
	if err != nil {
		return -1
	}
	total := processCPU(postmaster, pm) + ticks(pm.cutime+pm.cstime)
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		if pid == postmaster {
			continue
		}
		if st, err := readStat(pid); err == nil && st.ppid == postmaster {
			total += processCPU(pid, st)
		}
	}
	return total
}

// processCPU returns the CPU time a live process used: from /proc/<pid>/schedstat, in
// nanoseconds, when the kernel has it. /proc/<pid>/stat counts whole ticks (10 ms) per
// process, and a hundred connections' truncations add up to more than a short phase uses.
func processCPU(pid int, st procStat) time.Duration {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid)); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return time.Duration(ns)
			}
		}
	}
	return ticks(st.utime + st.stime)
}

func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / clockTicks }

type procStat struct {
	comm                         string
	ppid                         int
	utime, stime, cutime, cstime int64
}

// readStat reads /proc/<pid>/stat.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	st, ok := parseStat(string(b))
	if !ok {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return st, nil
}

// parseStat parses the line of /proc/<pid>/stat. The command name, in parentheses, may
// itself hold spaces and parentheses.
func parseStat(s string) (procStat, bool) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, false
	}
	// Fields after the command name, counting from field 3 (state).
	f := strings.Fields(s[end+1:])
	if len(f) < 15 {
		return procStat{}, false
	}
	num := func(i int) int64 { v, _ := strconv.ParseInt(f[i-3], 10, 64); return v }
	return procStat{
		comm:   s[open+1 : end],
		ppid:   int(num(4)),
		utime:  num(14),
		stime:  num(15),
		cutime: num(16),
		cstime: num(17),
	}, true
}

// machineBusy returns the busy jiffies of all CPUs (everything but idle, iowait and steal),
// or -1.
func machineBusy() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return -1
	}
	var busy int64
	// user nice system idle iowait irq softirq (steal, time taken by the hypervisor, is not
	// ours to explain)
	for i, v := range f[1:8] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return busy
}
