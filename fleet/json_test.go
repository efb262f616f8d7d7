package fleet_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	. "github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/fleet/fleettest"
	"github.com/otactl/otactl/report"
)

// rowJSONStd is how Row.MarshalJSON wrote rows before it appended them
// itself: the reference its bytes must equal.
func rowJSONStd(r Row) ([]byte, error) {
	type rowJSON struct {
		Device         string         `json:"device"`
		Package        string         `json:"package"`
		Status         RowStatus      `json:"status"`
		Seen           bool           `json:"seen"`
		State          *report.State  `json:"state,omitempty"`
		StateName      string         `json:"stateName,omitempty"`
		Reason         *report.Reason `json:"reason,omitempty"`
		ReasonName     string         `json:"reasonName,omitempty"`
		LastFailure    report.Reason  `json:"lastFailure,omitempty"`
		LastFailName   string         `json:"lastFailureName,omitempty"`
		Version        string         `json:"version"`
		Target         string         `json:"target"`
		ReportedTarget string         `json:"reportedTarget"`
		Cohort         string         `json:"cohort,omitempty"`
		Time           time.Time      `json:"time,omitzero"`
		Topic          string         `json:"topic,omitempty"`
	}
	j := rowJSON{
		Device:         r.Report.Device,
		Package:        r.Report.Package,
		Status:         r.Status,
		Seen:           r.Seen,
		Version:        r.Report.Version,
		Target:         r.Target,
		ReportedTarget: r.Report.Target,
		Cohort:         r.Cohort,
		Topic:          r.Report.Topic,
	}
	if r.Seen {
		s, rs := r.Report.State, r.Report.Reason
		j.State, j.StateName = &s, s.String()
		j.Reason, j.ReasonName = &rs, rs.String()
		j.Time = r.Report.Received.UTC().Truncate(time.Second)
		if r.LastFailure != 0 {
			j.LastFailure, j.LastFailName = r.LastFailure, r.LastFailure.String()
		}
	}
	return json.Marshal(j)
}

func TestRowMarshalJSONSameAsStd(t *testing.T) {
	f, _ := fleettest.Demo()
	f.SetCohort("dev-20", "canary")
	rows := append(f.View(Filter{Devices: []string{"dev-20", "dev-00", "dev-01", "nobody"}}, 0).Rows, f.View(Filter{}, 0).Rows...)
	rows = append(rows, fleettest.OddRows()...)
	for _, r := range rows {
		got, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, err := rowJSONStd(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("row JSON\n got %s\nwant %s", got, want)
		}
		// As part of a larger value, compacted by encoding/json, too.
		if enc, err := json.Marshal([]Row{r}); err != nil || !bytes.Equal(enc, append(append([]byte("["), want...), ']')) {
			t.Errorf("in a list: %s, %v", enc, err)
		}
	}
}

// FuzzRowJSON compares rows holding any text with encoding/json's bytes.
func FuzzRowJSON(f *testing.F) {
	f.Add("d1", "1.0.0", "1.1.0", "canary", fleettest.T0.Unix(), int64(0))
	f.Add("<d>", "\xff\u2028", `"\`, "\x00", int64(-1), int64(-1))
	f.Add("d", "", "", "", int64(1)<<40, int64(8)) // seen, in a year past 9999: an error either way
	f.Fuzz(func(t *testing.T, device, version, target, cohort string, secs, nanos int64) {
		r := Row{
			Report: report.Report{Device: device, Package: "main", Version: version, Target: target, Topic: device, Received: time.Unix(secs, nanos)},
			Seen:   nanos%2 == 0, Target: version, Cohort: cohort, Status: RowStatus(nanos % 5),
		}
		got, gerr := r.MarshalJSON()
		want, werr := rowJSONStd(r)
		if (gerr != nil) != (werr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("row JSON\n got %s %v\nwant %s %v", got, gerr, want, werr)
		}
	})
}
