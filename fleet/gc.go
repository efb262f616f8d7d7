package fleet

import (
	"runtime/debug"
	"strings"
)

// BulkGCPercent is the garbage collector's target (GOGC) while a whole
// fleet's retained reports are read and printed in one go (watch --once).
// Such a read keeps almost everything it allocates (the model: about 200
// bytes a device), so each collection finds little garbage and the
// default (100) collects again each time the heap doubles, rescanning the
// whole model each time; 200 waits for it to triple. Over 1,000,000
// reports: user CPU 3.6-4.5 s -> 3.0-3.3 s, peak 408-419 -> 424-429 MiB (see
// BENCHMARKS.md, status-1m). No memory limit is set: a larger fleet needs
// more memory, and a limit below its model would only make the collector
// run without end.
const BulkGCPercent = 200

// TuneGCForBulkRead sets GOGC to BulkGCPercent unless the environment
// (getenv) sets GOGC, and returns what puts the previous setting back.
func TuneGCForBulkRead(getenv func(string) string) (restore func()) {
	return setGCPercent(getenv, BulkGCPercent)
}

// PauseGCForPrinting turns the garbage collector off unless the
// environment (getenv) sets GOGC, and returns what puts the previous
// setting back: for printing, sorted, the rows of a fleet just read whole
// (watch --once). What printing allocates (about 100 bytes a row: the
// rows' entries and sort keys) stays until it ends, so a collection then
// would free only the read's leftovers, on the CPU the printing needs
// (over 1,000,000 reports, one started as the read ended and slowed the
// printing by 0.2-0.3 s: BENCHMARKS.md, status-1m). The heap grows by what
// printing allocates, less than the collector's own headroom would let it.
func PauseGCForPrinting(getenv func(string) string) (restore func()) {
	return setGCPercent(getenv, -1)
}

// setGCPercent sets GOGC to percent unless the environment sets GOGC, and
// returns what puts the previous setting back.
func setGCPercent(getenv func(string) string, percent int) (restore func()) {
	if strings.TrimSpace(getenv("GOGC")) != "" {
		return func() {}
	}
	old := debug.SetGCPercent(percent)
	return func() { debug.SetGCPercent(old) }
}
