package output

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

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
		j.Time = r.Report.Received.UTC()
	}
	return json.Marshal(j)
}

// statusJSONStd is what JSON(w, st) wrote before WriteJSON: encoding/json
// with the rows as rowJSONStd wrote them.
func statusJSONStd(t *testing.T, st StatusReport) []byte {
	t.Helper()
	var rows []json.RawMessage
	if st.NotDone != nil {
		rows = []json.RawMessage{}
	}
	for _, r := range st.NotDone {
		b, err := rowJSONStd(r)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, b)
	}
	var buf bytes.Buffer
	err := JSON(&buf, struct {
		Time    time.Time         `json:"time"`
		Summary Summary           `json:"summary"`
		Devices []json.RawMessage `json:"devices"`
	}{st.Time, st.Summary, rows})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// oddRows are rows with every kind of text JSON escapes, unknown codes,
// and times that are zero, in another zone, or with nanoseconds.
func oddRows() []Row {
	paris := time.FixedZone("CET", 3600)
	seen := func(device, version, target, cohort string, s report.State, r report.Reason, at time.Time) Row {
		return Row{
			Report: report.Report{Device: device, Package: "main", State: s, Reason: r, Version: version, Target: target,
				Topic: report.Topic("", device, "main"), Received: at},
			Seen: true, Target: target, Status: StatusPending, Cohort: cohort, LastSeen: at,
		}
	}
	rows := []Row{
		seen("d1", "<1.0&>", `"q"\`, "canary", report.Idle, 0, t0),
		seen("d2", "1.0\x1b[2J\t\n\r\b\f", "1.1", "", 9, 42, t0.Add(123456789*time.Nanosecond)),
		seen("d3", "\xff\xfe", "\u2028\u2029", "", -1, -7, t0.In(paris)),
		seen("d4", "versión-é", "v\x7f", "", report.Updated, report.ReasonUpdated, time.Time{}),
		seen("d5", "", "", "", report.Downloading, report.ReasonIntegrityCheckFailed, time.Unix(0, 1).UTC()),
		{Report: report.Report{Device: "d6", Package: "main"}, Target: "1.2", Status: StatusStale},
		{Report: report.Report{Device: "d7"}, Status: 7},
	}
	rows[4].Status = StatusFailed
	return rows
}

func TestRowMarshalJSONSameAsStd(t *testing.T) {
	f, _ := demoFleet()
	f.SetCohort("dev-20", "canary")
	rows := append(f.View(Filter{Devices: []string{"dev-20", "dev-00", "dev-01", "nobody"}}, 0).Rows, f.View(Filter{}, 0).Rows...)
	rows = append(rows, oddRows()...)
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

func TestStatusWriteJSONSameAsStd(t *testing.T) {
	f, c := demoFleet()
	f.Malformed("devices/<odd>&/.u/c/main", nil)
	done, _ := newTestFleet()
	done.Apply(rep("d1", report.Idle, 0, "1.0", ""))
	cases := map[string]StatusReport{
		"fleet":    f.Status(Filter{}),
		"main":     f.Status(Filter{Package: "main"}),
		"failed":   f.Status(Filter{FailedOnly: true}),
		"listed":   f.Status(Filter{Devices: []string{"dev-20", "nobody", "dev-01"}}),
		"all done": done.Status(Filter{}),
		"odd rows": {Time: c.Now(), Summary: f.Summary(Filter{}), NotDone: oddRows()},
		"nil rows": {Time: c.Now().In(time.FixedZone("X", -3600))},
	}
	for name, st := range cases {
		var got bytes.Buffer
		if err := st.WriteJSON(&got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := statusJSONStd(t, st); !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: status JSON\n got %s\nwant %s", name, got.Bytes(), want)
		}
	}
	if n := len(cases["all done"].NotDone); n != 0 || cases["all done"].NotDone == nil {
		t.Errorf("all done: %d rows (nil %v), want an empty list", n, cases["all done"].NotDone == nil)
	}
}

// FuzzRowJSON compares rows holding any text with encoding/json's bytes.
func FuzzRowJSON(f *testing.F) {
	f.Add("d1", "1.0.0", "1.1.0", "canary", t0.Unix(), int64(0))
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
