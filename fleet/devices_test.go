package fleet_test

import (
	"fmt"
	"testing"
	"time"

	. "github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/report"
)

// TestFleetForgetsAndCompacts forgets most of 3,000 devices, which moves
// the records of those kept, then reports again from some of each: the
// view holds exactly the devices kept or back, with their latest reports,
// and the moved records still take their devices' reports.
func TestFleetForgetsAndCompacts(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := NewFleet(FleetOptions{Now: func() time.Time { return at }})
	apply := func(i int, pkg, version string) {
		f.Apply(report.Report{Device: fmt.Sprintf("d%04d", i), Package: pkg, State: report.Idle, Version: version, Received: at})
	}
	for i := range 3000 {
		apply(i, "main", "1.0")
		if i%3 == 0 {
			apply(i, "modem", "7")
		}
	}
	want := map[string]string{}
	for i := range 3000 {
		id := fmt.Sprintf("d%04d", i)
		switch {
		case i%10 == 0: // kept whole
			want[id+" main"] = "1.0"
			if i%3 == 0 {
				want[id+" modem"] = "7"
			}
		case i%3 == 0: // loses one package, keeps the other
			f.Forget(id, "modem")
			want[id+" main"] = "1.0"
		default:
			f.Forget(id, "")
		}
	}
	for i := 0; i < 3000; i += 7 { // back, or updated after the move
		apply(i, "main", "2.0")
		want[fmt.Sprintf("d%04d main", i)] = "2.0"
	}
	got := map[string]string{}
	for row := range f.Rows(Filter{}) {
		k := row.Report.Device + " " + row.Report.Package
		if _, dup := got[k]; dup {
			t.Fatalf("%s twice", k)
		}
		got[k] = row.Report.Version
	}
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: version %q, want %q", k, got[k], v)
		}
	}
	if n := len(got); f.Len() > n {
		t.Errorf("Len %d, more than the %d rows", f.Len(), n)
	}
}
