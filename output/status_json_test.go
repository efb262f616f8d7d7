package output

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/fleet/fleettest"
	"github.com/otactl/otactl/report"
)

// statusJSONStd is what Document(w, "rollout-status", st) writes, the
// time to the second, no rows an empty list: encoding/json, with the rows as their MarshalJSON
// writes them (which fleet's tests hold to encoding/json's bytes).
func statusJSONStd(t *testing.T, st fleet.StatusReport) []byte {
	t.Helper()
	rows := []json.RawMessage{} // an empty list, never null
	for _, r := range st.NotDone {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, b)
	}
	sum := st.Summary
	sum.RecentMalformed = append([]fleet.MalformedReport{}, sum.RecentMalformed...)
	for i := range sum.RecentMalformed {
		sum.RecentMalformed[i].Time = Time(sum.RecentMalformed[i].Time)
	}
	if sum.Failures == nil {
		sum.Failures = []fleet.ReasonCount{}
	}
	if sum.States == nil {
		sum.States = map[string]int{}
	}
	var buf bytes.Buffer
	err := Document(&buf, "rollout-status", struct {
		Time    time.Time         `json:"time"`
		Summary fleet.Summary     `json:"summary"`
		Devices []json.RawMessage `json:"devices"`
	}{Time(st.Time), sum, rows})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestStatusWriteJSONSameAsStd(t *testing.T) {
	f, c := fleettest.Demo()
	f.Malformed("devices/<odd>&/.u/c/main", nil)
	done, _ := fleettest.New()
	done.Apply(fleettest.Rep("d1", report.Idle, 0, "1.0", ""))
	cases := map[string]fleet.StatusReport{
		"fleet":    f.Status(fleet.Filter{}),
		"main":     f.Status(fleet.Filter{Package: "main"}),
		"failed":   f.Status(fleet.Filter{FailedOnly: true}),
		"listed":   f.Status(fleet.Filter{Devices: []string{"dev-20", "nobody", "dev-01"}}),
		"all done": done.Status(fleet.Filter{}),
		"odd rows": {Time: c.Now(), Summary: f.Summary(fleet.Filter{}), NotDone: fleettest.OddRows()},
		"nil rows": {Time: c.Now().In(time.FixedZone("X", -3600))},
	}
	for name, st := range cases {
		var got bytes.Buffer
		if err := WriteStatusJSON(&got, "rollout-status", st); err != nil {
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

// Extra fields come after the rows, each once, as encoding/json writes
// them (rollout status adds the staged rollout's state).
func TestStatusWriteJSONExtra(t *testing.T) {
	f, _ := fleettest.Demo()
	st := f.Status(fleet.Filter{})
	var got bytes.Buffer
	if err := WriteStatusJSON(&got, "rollout-status", st, Field{Key: "rollout", Value: map[string]any{"status": "running", "stage": 1}}); err != nil {
		t.Fatal(err)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(got.Bytes(), &v); err != nil {
		t.Fatalf("%v: %s", err, got.Bytes())
	}
	if string(v["rollout"]) != `{"stage":1,"status":"running"}` || len(v) != 5 || string(v["schema"]) != `"otactl/rollout-status/v1"` {
		t.Errorf("keys %d, rollout %s", len(v), v["rollout"])
	}
}
