package fleet_test

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"testing"

	. "github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/fleet/fleettest"
)

// TestStatusIsViewWithoutDone: Status lists exactly the rows View lists
// that are not done, in the same order.
func TestStatusIsViewWithoutDone(t *testing.T) {
	f, _ := fleettest.Demo()
	for _, flt := range []Filter{
		{}, {Package: "main"}, {Package: "modem"}, {FailedOnly: true}, {Version: "1.1.0"},
		{Devices: []string{"dev-20", "nobody", "dev-01"}}, {Device: "dev-3*"},
	} {
		v := f.View(flt, 0)
		want := []Row{}
		for _, r := range v.Rows {
			if r.Status != StatusDone {
				want = append(want, r)
			}
		}
		st := f.Status(flt)
		if !reflect.DeepEqual(st.NotDone, want) || !reflect.DeepEqual(st.Summary, v.Summary) {
			t.Errorf("%+v: Status lists %v, want %v", flt, rowKeys(st.NotDone), rowKeys(want))
		}
	}
}

// TestRowsIsView: Rows yields exactly View's rows, in its order, and stops
// when the loop does.
func TestRowsIsView(t *testing.T) {
	f, _ := fleettest.Demo()
	big := fleettest.BenchFleet(3000)
	for _, c := range []struct {
		f   *Fleet
		flt Filter
	}{
		{f, Filter{}}, {f, Filter{Package: "main"}}, {f, Filter{FailedOnly: true}},
		{f, Filter{Devices: []string{"dev-20", "nobody", "dev-01"}}}, {f, Filter{Device: "dev-3*"}},
		{big, Filter{}}, {big, Filter{Version: "1.1.0"}},
	} {
		want := c.f.View(c.flt, 0).Rows
		got := slices.Collect(c.f.Rows(c.flt))
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: Rows yields %d rows %v, want View's %d %v", c.flt, len(got), rowKeys(got), len(want), rowKeys(want))
		}
	}
	n := 0
	for range big.Rows(Filter{}) {
		if n++; n == 5 {
			break
		}
	}
	if n != 5 {
		t.Errorf("Rows went on to %d rows after the loop stopped at 5", n)
	}
	_ = big.Summary(Filter{}) // the fleet is unlocked again
}

// TestViewOrder: a view of a large fleet is in order of status, device,
// package, with no row twice.
func TestViewOrder(t *testing.T) {
	rows := fleettest.BenchFleet(5000).View(Filter{}, 0).Rows
	if len(rows) < 5000 {
		t.Fatalf("%d rows, want at least 5000", len(rows))
	}
	for i := 1; i < len(rows); i++ {
		a, b := rows[i-1], rows[i]
		if c := cmp.Or(cmp.Compare(a.Status, b.Status), strings.Compare(a.Report.Device, b.Report.Device),
			strings.Compare(a.Report.Package, b.Report.Package)); c >= 0 {
			t.Fatalf("row %d (%v %s %s) is not before row %d (%v %s %s)", i-1, a.Status, a.Report.Device, a.Report.Package,
				i, b.Status, b.Report.Device, b.Report.Package)
		}
	}
}
