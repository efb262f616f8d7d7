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

// TestTuneGCForBulkRead: GOGC is BulkGCPercent during a bulk read and
// back after it; a GOGC set in the environment wins.
func TestTuneGCForBulkRead(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(80))
	restore := TuneGCForBulkRead(func(string) string { return "" })
	if got := gcPercent(); got != BulkGCPercent {
		t.Errorf("GOGC during the read = %d, want %d", got, BulkGCPercent)
	}
	restore()
	if got := gcPercent(); got != 80 {
		t.Errorf("GOGC after the read = %d, want 80 back", got)
	}
	restore = TuneGCForBulkRead(func(k string) string {
		if k == "GOGC" {
			return "50"
		}
		return ""
	})
	if got := gcPercent(); got != 80 {
		t.Errorf("GOGC with GOGC=50 in the environment = %d, want the runtime's 80 untouched", got)
	}
	restore()
	if got := gcPercent(); got != 80 {
		t.Errorf("GOGC after the read = %d, want 80", got)
	}
}
