package fleet_test

import (
	"runtime/debug"
	"testing"

	. "github.com/otactl/otactl/fleet"
)

// gcPercent is the collector's current GOGC.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestGCSettings: GOGC is BulkGCPercent during a bulk read and off while
// its rows are printed, and back after each; a GOGC set in the
// environment wins.
func TestGCSettings(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(80))
	for _, tc := range []struct {
		name string
		set  func(func(string) string) func()
		want int
	}{
		{"TuneGCForBulkRead", TuneGCForBulkRead, BulkGCPercent},
		{"PauseGCForPrinting", PauseGCForPrinting, -1},
	} {
		restore := tc.set(func(string) string { return "" })
		if got := gcPercent(); got != tc.want {
			t.Errorf("%s: GOGC = %d, want %d", tc.name, got, tc.want)
		}
		restore()
		if got := gcPercent(); got != 80 {
			t.Errorf("%s: GOGC after = %d, want 80 back", tc.name, got)
		}
		restore = tc.set(func(k string) string {
			if k == "GOGC" {
				return "50"
			}
			return ""
		})
		if got := gcPercent(); got != 80 {
			t.Errorf("%s with GOGC=50 in the environment: GOGC = %d, want the runtime's 80 untouched", tc.name, got)
		}
		restore()
		if got := gcPercent(); got != 80 {
			t.Errorf("%s: GOGC after = %d, want 80", tc.name, got)
		}
	}
}
