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
	if strings.TrimSpace(getenv("GOGC")) != "" {
		return func() {}
	}
	old := debug.SetGCPercent(BulkGCPercent)
	return func() { debug.SetGCPercent(old) }
}
