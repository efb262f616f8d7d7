package fleet

import (
	"slices"

	"github.com/otactl/otactl/report"
)

// Picker decides whether a report, once applied to the fleet, passes a
// filter: whether its row is one the filter picks, as the fleet stands
// now (its target, status and cohort included).
type Picker struct {
	fleet *Fleet
	flt   Filter
	ids   map[string]bool
}

// NewPicker picks the reports of f that flt picks.
func NewPicker(f *Fleet, flt Filter) *Picker {
	p := &Picker{fleet: f, flt: flt}
	if len(flt.Devices) > 0 {
		p.ids = make(map[string]bool, len(flt.Devices))
		for _, id := range flt.Devices {
			p.ids[id] = true
		}
	}
	return p
}

// Picks reports whether r's row passes the filter.
func (p *Picker) Picks(r report.Report) bool {
	if p.flt.Package != "" && r.Package != p.flt.Package {
		return false
	}
	if p.ids != nil && !p.ids[r.Device] {
		return false
	}
	one := p.flt
	one.Devices, one.Package, one.Cohorts = []string{r.Device}, r.Package, nil
	v := p.fleet.View(one, 1)
	if len(v.Rows) == 0 || !v.Rows[0].Seen {
		return false
	}
	return len(p.flt.Cohorts) == 0 || slices.Contains(p.flt.Cohorts, v.Rows[0].Cohort)
}
