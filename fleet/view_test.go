package fleet_test

import (
	"reflect"
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
