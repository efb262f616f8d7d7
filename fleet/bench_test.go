package fleet_test

import (
	"runtime"
	"testing"
	"time"

	. "github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/fleet/fleettest"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/report"
)

// BenchmarkFleetApply reports the cost of applying a report to a fleet of
// 100,000 devices, and the heap each device takes.
func BenchmarkFleetApply(b *testing.B) {
	const n = 100_000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f := NewFleet(FleetOptions{Now: func() time.Time { return fleettest.T0 }})
	f.SetDesired(protocol.FleetTarget(), 1, map[string]string{"main": "1.1.0"})
	for i := range n {
		f.Apply(fleettest.BenchReport(i, report.Downloading, report.ReasonReady))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perDevice := float64(after.HeapAlloc-before.HeapAlloc) / n

	pool := make([]report.Report, 4096)
	for i := range pool {
		pool[i] = fleettest.BenchReport((i*7919)%n, report.State(i%4), report.Reason(i%12))
	}
	i := 0
	for b.Loop() {
		f.Apply(pool[i%len(pool)])
		i++
	}
	b.ReportMetric(perDevice, "bytes/device")
	runtime.KeepAlive(f)
}

// BenchmarkFleetIngest decodes an SDK report (CBOR) from its topic and
// applies it, as a watcher does for every message.
func BenchmarkFleetIngest(b *testing.B) {
	const n = 100_000
	f := fleettest.BenchFleet(n)
	type msg struct {
		topic   string
		payload []byte
	}
	pool := make([]msg, 4096)
	for i := range pool {
		r := fleettest.BenchReport((i*7919)%n, report.State(i%4), report.Reason(i%12))
		p, err := report.Encode(r, "cbor", true)
		if err != nil {
			b.Fatal(err)
		}
		pool[i] = msg{r.Topic, p}
	}
	i := 0
	for b.Loop() {
		m := pool[i%len(pool)]
		f.Ingest(report.FromMessage(protocol.Topics{}, m.topic, m.payload, fleettest.T0))
		i++
	}
}

// BenchmarkFleetView100k is the model's share of one redraw of a fleet of
// 100,000 devices: filter, summarise and sort every row, keep 50.
func BenchmarkFleetView100k(b *testing.B) {
	f := fleettest.BenchFleet(100_000)
	for b.Loop() {
		_ = f.View(Filter{}, 50)
	}
}
