package templates

import (
	"github.com/dave/jennifer/jen"

	"github.com/wfgen/wfgen/internal/wfgen/model"
)

// schedule assigns a scheduled workflow's *wf.Schedule (in init, after the workflow's
// definition, which it refers to).
func (g *gen) schedule(w *model.Workflow) jen.Code {
	s := w.Schedule
	args := []jen.Code{jen.Id(w.DefVar()), jen.Lit(s.Cron)}
	if s.Timezone != "" {
		args = append(args, jen.Qual(wfPath, "ScheduleTimezone").Call(jen.Lit(s.Timezone)))
	}
	if !s.Queue.IsZero() {
		args = append(args, jen.Qual(wfPath, "ScheduleQueue").Call(g.queueCode(s.Queue)))
	}
	if s.Backfill > 0 {
		args = append(args, jen.Qual(wfPath, "ScheduleBackfill").Call(durationCode(s.Backfill)))
	}
	return jen.Id(w.ScheduleVar()).Op("=").Qual(wfPath, "NewSchedule").Call(args...)
}
