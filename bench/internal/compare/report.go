package compare

import (
	"cmp"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/wfgen/wfgen/runtime/wf"
)

// Modules whose versions the report names.
const (
	riverModule = "github.com/riverqueue/river"
	dbosModule  = "github.com/dbos-inc/dbos-transact-golang"
	gowfModule  = "github.com/cschleiden/go-workflows"
	pgxModule   = "github.com/jackc/pgx/v5"
)

// jsonReport is the file -out writes, for comparing runs over time.
type jsonReport struct {
	Version     int                                      `json:"version"`
	StartedAt   time.Time                                `json:"started_at"`
	FinishedAt  time.Time                                `json:"finished_at"`
	Config      map[string]any                           `json:"config"`
	Environment environment                              `json:"environment"`
	Metrics     map[string]map[string]jsonMetric         `json:"metrics"` // by system, then metric
	Ratios      []jsonRatio                              `json:"ratios"`
	Statements  map[string]map[string]map[string]float64 `json:"statements_per_unit"` // by system, phase, kind
	Scale       *jsonScale                               `json:"scale,omitempty"`     // -scale only
}

type jsonMetric struct {
	Unit   string  `json:"unit"`
	Median float64 `json:"median"` // of the rounds' values
	// AllRounds is, for a percentile of latency samples, the percentile over all rounds'
	// samples: the figure the report and the targets use.
	AllRounds *float64  `json:"all_rounds,omitempty"`
	Min       float64   `json:"min"`
	Max       float64   `json:"max"`
	Runs      []float64 `json:"runs"`
}

type jsonRatio struct {
	Name     string    `json:"name"`
	Label    string    `json:"label"`
	Value    *float64  `json:"value"` // null when not measured
	PerRound []float64 `json:"per_round,omitempty"`
	Target   string    `json:"target"`
	Pass     *bool     `json:"pass"` // null when not measured
}

// writeJSON writes the report into cfg.out and returns its path.
func writeJSON(cfg config, info environment, res *results, evs []evaluation, started time.Time, scale *scaleState) (string, error) {
	rep := jsonReport{
		Version:    1,
		StartedAt:  started.UTC(),
		FinishedAt: time.Now().UTC(),
		Config: map[string]any{
			"rounds": cfg.rounds, "systems": cfg.systems, "n_one_step": cfg.oneStepN, "n_multi_step": cfg.tenStepN,
			"steps": cfg.steps, "workers": cfg.workers, "pool_conns": cfg.poolSize(), "pool_conns_single": cfg.singleClients + 1,
			"single_n": cfg.singleN, "single_clients": cfg.singleClients,
			"latency_n": cfg.latencyN, "latency_gap": cfg.latencyGap.String(),
			"wfgen_poll":     cmp.Or(cfg.wfgenPoll, wf.DefaultPollInterval).String(),
			"wfgen_cooldown": cmp.Or(cfg.wfgenCooldown, wf.DefaultFetchCooldown).String(),
			"river_poll":     cfg.riverPoll.String(), "river_cooldown": cfg.riverCooldown.String(),
			"dbos_poll": cfg.dbosPoll.String(), "gowf_poll": cfg.gowfPoll.String(), "gowf_pollers": cfg.gowfPollers, "checkpoint": cfg.checkpoint,
		},
		Environment: info,
		Scale:       scaleJSON(cfg, scale),
		Metrics:     map[string]map[string]jsonMetric{},
		Statements:  map[string]map[string]map[string]float64{},
	}
	for _, m := range res.order {
		if rep.Metrics[m.system] == nil {
			rep.Metrics[m.system] = map[string]jsonMetric{}
		}
		jm := jsonMetric{Unit: m.unit, Median: finite(m.median()), Min: slices.Min(m.runs), Max: slices.Max(m.runs), Runs: m.runs}
		if m.pct > 0 {
			v := finite(m.value())
			jm.AllRounds = &v
		}
		rep.Metrics[m.system][m.name] = jm
	}
	for _, ev := range evs {
		r := jsonRatio{Name: ev.name, Label: ev.label, Target: ev.need()}
		if ev.ok {
			v, pass := finite(ev.value), ev.pass
			r.Value, r.Pass, r.PerRound = &v, &pass, ev.perRound
		}
		rep.Ratios = append(rep.Ratios, r)
	}
	for _, p := range res.phases {
		if rep.Statements[p.system] == nil {
			rep.Statements[p.system] = map[string]map[string]float64{}
		}
		kinds := map[string]float64{}
		for _, kc := range res.statementsPerUnit(p) {
			kinds[kc.kind] = kc.perUnit
		}
		rep.Statements[p.system][p.phase] = kinds
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return "", err
	}
	path, err := filepath.Abs(filepath.Join(cfg.out, started.UTC().Format("20060102T150405Z")+".json"))
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}

// finite maps NaN (no runs) to 0, which JSON can carry.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// moduleVersions returns the versions of the peers and pgx this binary was built with.
func moduleVersions() map[string]string {
	out := map[string]string{}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return out
	}
	for _, d := range bi.Deps {
		switch d.Path {
		case riverModule, dbosModule, gowfModule, pgxModule:
			out[d.Path] = d.Version
		}
	}
	return out
}

// gitCommit returns the short commit of the working tree, with "+dirty" when it has
// changes, or "" outside a git checkout.
func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(out))
	if status, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(status))) > 0 {
		commit += "+dirty"
	}
	return commit
}
