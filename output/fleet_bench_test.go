package output

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/otactl/otactl/report"
)

// benchReport is device i's report as a decoder hands it over: the device
// id and package cut from a fresh topic string, fresh version strings.
func benchReport(i int, s report.State, r report.Reason) report.Report {
	topic := report.Topic("", fmt.Sprintf("device-%06d", i), "main")
	dev, pkg, _ := report.ParseTopic("", topic)
	return report.Report{
		Device: dev, Package: pkg, State: s, Reason: r,
		Version: string([]byte("1.0.0")), Target: string([]byte("1.1.0")),
		Topic: topic, Received: t0,
	}
}

// benchFleet is a fleet of n devices in every state and standing.
func benchFleet(n int) *Fleet {
	f := NewFleet(FleetOptions{Now: func() time.Time { return t0.Add(10 * time.Minute) }})
	f.SetDesired(FleetScope(), 1, map[string]string{"main": "1.1.0"})
	for i := range n {
		switch i % 10 {
		case 0:
			f.Apply(benchReport(i, report.Downloading, report.ReasonIntegrityCheckFailed))
		case 1, 2:
			f.Apply(benchReport(i, report.Downloading, report.ReasonReady))
		default:
			r := benchReport(i, report.Idle, report.ReasonReady)
			r.Version, r.Target = "1.1.0", ""
			f.Apply(r)
		}
	}
	return f
}

// BenchmarkFleetApply reports the cost of applying a report to a fleet of
// 100,000 devices, and the heap each device takes.
func BenchmarkFleetApply(b *testing.B) {
	const n = 100_000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f := NewFleet(FleetOptions{Now: func() time.Time { return t0 }})
	f.SetDesired(FleetScope(), 1, map[string]string{"main": "1.1.0"})
	for i := range n {
		f.Apply(benchReport(i, report.Downloading, report.ReasonReady))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perDevice := float64(after.HeapAlloc-before.HeapAlloc) / n

	pool := make([]report.Report, 4096)
	for i := range pool {
		pool[i] = benchReport((i*7919)%n, report.State(i%4), report.Reason(i%12))
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
	f := benchFleet(n)
	type msg struct {
		topic   string
		payload []byte
	}
	pool := make([]msg, 4096)
	for i := range pool {
		r := benchReport((i*7919)%n, report.State(i%4), report.Reason(i%12))
		p, err := report.Encode(r, "cbor", true)
		if err != nil {
			b.Fatal(err)
		}
		pool[i] = msg{r.Topic, p}
	}
	i := 0
	for b.Loop() {
		m := pool[i%len(pool)]
		f.Ingest(report.FromMessage("", m.topic, m.payload, t0))
		i++
	}
}

// BenchmarkFleetView100k is the model's share of one redraw of a fleet of
// 100,000 devices: filter, summarise and sort every row, keep 50.
func BenchmarkFleetView100k(b *testing.B) {
	f := benchFleet(100_000)
	for b.Loop() {
		_ = f.View(Filter{}, 50)
	}
}

// BenchmarkRenderFrame10k is one redraw of the live view of a fleet of
// 10,000 devices on a 120x50 terminal: view and frame.
func BenchmarkRenderFrame10k(b *testing.B) {
	f := benchFleet(10_000)
	opts := FrameOptions{Width: 120, Height: 50, Renderer: PlainRenderer()}
	for b.Loop() {
		_ = RenderFrame(f.View(Filter{}, opts.Height), opts)
	}
}
