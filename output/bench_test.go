package output

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/fleet/fleettest"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/report"
)

// statusBenchFleet is a fleet of n devices after a release of main 1.1.0:
// seven in ten updated, two downloading, one failed (reason 5), as
// bench/run's status-100k leaves them on the broker. notDone is how many
// are not done.
func statusBenchFleet(n int) (f *fleet.Fleet, notDone int) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	f = fleet.NewFleet(fleet.FleetOptions{Now: func() time.Time { return at.Add(time.Minute) }})
	f.SetDesired(protocol.FleetTarget(), 100, map[string]string{"main": "1.1.0"})
	for i := range n {
		id := fmt.Sprintf("bench-%06d", i)
		r := report.Report{
			Device: id, Package: "main", State: report.Idle, Version: "1.1.0",
			Topic: fleettest.ReportTopic(id, "main"), Received: at,
		}
		switch i % 10 {
		case 0:
			r.State, r.Reason, r.Version, r.Target = report.Downloading, report.ReasonIntegrityCheckFailed, "1.0.0", "1.1.0"
			notDone++
		case 1, 2:
			r.State, r.Version, r.Target = report.Downloading, "1.0.0", "1.1.0"
			notDone++
		}
		f.Apply(r)
	}
	return f, notDone
}

// BenchmarkRenderStatus10k draws a 10,000-row frame: what `rollout status`
// prints on a terminal for a fleet with 10,000 devices not done (summary
// and every row, 120 columns).
func BenchmarkRenderStatus10k(b *testing.B) {
	f, notDone := statusBenchFleet(33_334)
	st := f.Status(fleet.Filter{})
	if len(st.NotDone) != notDone || notDone < 10_000 {
		b.Fatalf("%d rows not done, want %d (at least 10,000)", len(st.NotDone), notDone)
	}
	st.NotDone = st.NotDone[:10_000]
	opts := FrameOptions{Width: 120, Renderer: PlainRenderer()}
	b.ReportAllocs()
	for b.Loop() {
		if s := RenderStatus(st, opts); len(s) == 0 {
			b.Fatal("empty frame")
		}
	}
}

// BenchmarkStatusJSON100k is the model's and the encoder's share of
// `rollout status -o json` over 100,000 devices: summary, the 30,000 rows
// not done, trouble first, written as JSON.
func BenchmarkStatusJSON100k(b *testing.B) {
	f, notDone := statusBenchFleet(100_000)
	b.ReportAllocs()
	for b.Loop() {
		st := f.Status(fleet.Filter{})
		if len(st.NotDone) != notDone {
			b.Fatalf("%d rows not done, want %d", len(st.NotDone), notDone)
		}
		if err := WriteStatusJSON(io.Discard, "rollout-status", st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderFrame10k is one redraw of the live view of a fleet of
// 10,000 devices on a 120x50 terminal: view and frame.
func BenchmarkRenderFrame10k(b *testing.B) {
	f := fleettest.BenchFleet(10_000)
	opts := FrameOptions{Width: 120, Height: 50, Renderer: PlainRenderer()}
	for b.Loop() {
		_ = RenderFrame(f.View(fleet.Filter{}, opts.Height), opts)
	}
}
