package simulator

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// The ramp spreads first connections evenly: the k-th device's turn is
// k/rate seconds after the start (checked by count, not by a clock).
func TestRampDelay(t *testing.T) {
	if d := rampDelay(0, 500); d != 0 {
		t.Errorf("first device waits %s", d)
	}
	if d := rampDelay(500, 500); d != time.Second {
		t.Errorf("the 500th device at 500/s waits %s, want 1s", d)
	}
	if d := rampDelay(14999, DefaultRamp); d > 60*time.Second {
		t.Errorf("the default ramp connects 15,000 devices in %s, more than 60s", d)
	}
	for k := 1; k < 2000; k++ {
		if rampDelay(k, 333) < rampDelay(k-1, 333) {
			t.Fatalf("device %d comes before device %d", k, k-1)
		}
	}
}

// Every connection, first or not, takes the next free slot of the
// fleet's pacer: a burst of reconnects is spread at the ramp's rate.
func TestPacerSpreadsABurst(t *testing.T) {
	p := newPacer(500)
	now := time.Unix(1000, 0)
	for k := range 1500 {
		if got, want := p.reserve(now), now.Add(rampDelay(1, 500)*time.Duration(k)); !got.Equal(want) {
			t.Fatalf("connection %d of a burst at %s, want %s", k, got.Sub(now), want.Sub(now))
		}
	}
	// After a quiet spell a connection goes at once.
	later := now.Add(time.Hour)
	if got := p.reserve(later); !got.Equal(later) {
		t.Errorf("a connection after an hour waits %s", got.Sub(later))
	}
}

func TestParseShardAndRamp(t *testing.T) {
	if i, n, err := ParseShard("2/4"); err != nil || i != 2 || n != 4 {
		t.Errorf("2/4: %d %d %v", i, n, err)
	}
	for _, bad := range []string{"", "0/2", "3/2", "1/0", "a/b", "2", "1/-1"} {
		if _, _, err := ParseShard(bad); err == nil {
			t.Errorf("shard %q accepted", bad)
		}
	}
	if r, err := ParseRamp("250/s"); err != nil || r != 250 {
		t.Errorf("250/s: %g %v", r, err)
	}
	if r, err := ParseRamp("1.5"); err != nil || r != 1.5 {
		t.Errorf("1.5: %g %v", r, err)
	}
	for _, bad := range []string{"", "0/s", "-1/s", "fast", "Inf"} {
		if _, err := ParseRamp(bad); err == nil {
			t.Errorf("ramp %q accepted", bad)
		}
	}
}

// The N shards of a fleet hold every device exactly once, in slices
// that differ by at most one device, and keep each device's index in the
// whole fleet (its report format and dice).
func TestShardsCoverTheFleet(t *testing.T) {
	for _, n := range []int{1, 7, 100, 15000} {
		for shards := 1; shards <= min(n, 5); shards++ {
			next, smallest, largest := 0, n, 0
			for i := 1; i <= shards; i++ {
				c := Config{Shard: i, Shards: shards}
				lo, hi := c.shard(n)
				if lo != next {
					t.Fatalf("%d devices, shard %d/%d starts at %d, want %d", n, i, shards, lo, next)
				}
				next = hi
				smallest, largest = min(smallest, hi-lo), max(largest, hi-lo)
			}
			if next != n || largest-smallest > 1 {
				t.Errorf("%d devices in %d shards: end %d, sizes %d to %d", n, shards, next, smallest, largest)
			}
		}
	}
	f, err := New(Config{Devices: 7, IDPrefix: "s-", Package: "main", Version: "1.0.0", Shard: 2, Shards: 3, Encoding: "mixed"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range f.Devices() {
		ids = append(ids, fmt.Sprintf("%s/%s", d.ID, d.enc))
	}
	if got := fmt.Sprint(ids); got != "[s-0003/json s-0004/cbor]" {
		t.Errorf("shard 2/3 of 7 devices: %s", got)
	}
	if _, err := New(Config{Devices: 3, IDPrefix: "s-", Package: "main", Version: "1.0.0", Shard: 1, Shards: 4}); err == nil {
		t.Error("an empty shard accepted")
	}
	if _, err := New(Config{Devices: 3, IDPrefix: "s-", Package: "main", Version: "1.0.0", Shard: 5, Shards: 4}); err == nil {
		t.Error("shard 5/4 accepted")
	}
}

func TestLatencyPercentiles(t *testing.T) {
	s := newStats()
	for ms := 1; ms <= 1000; ms++ {
		s.reported(time.Duration(ms) * time.Millisecond)
	}
	l := s.Summary(1).ReportLatency
	near := func(got, want float64) bool { return got >= want && got <= want*9/8 }
	if !near(l.P50, 500) || !near(l.P90, 900) || !near(l.P99, 990) || l.Max != 1000 {
		t.Errorf("latency of 1..1000 ms: %+v", l)
	}
	for us := int64(0); us < 1<<40; us = us*3/2 + 1 {
		i := latencyBucket(us)
		if latencyUpper(i) < us || (i > 0 && latencyUpper(i-1) >= us) {
			t.Fatalf("%d µs in bucket %d of [%d, %d]", us, i, latencyUpper(i-1)+1, latencyUpper(i))
		}
	}
}

// --connect: devices are spread over the brokers in turn, each a client
// of its own broker only.
func TestConnectSpreadsOverBrokers(t *testing.T) {
	b1 := testbroker.Embedded(t, broker.Config{})
	b2 := testbroker.Embedded(t, broker.Config{})
	rec := newRecorder()
	f, err := New(Config{Devices: 4, IDPrefix: "sim-", Package: "main", Version: "1.0.0", Ramp: 1000,
		Endpoints: []string{b1.URL, b2.URL}, OnEvent: rec.add})
	if err != nil {
		t.Fatal(err)
	}
	defer runFleet(t, f, true)()
	for i, b := range []*testbroker.Broker{b1, b2} {
		op, err := upload.Connect(context.Background(), upload.Options{Broker: b.URL})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		err = op.ReadRetainedAll(context.Background(), op.Topics().ReportsFilter(), func(topic string, _ []byte) { got = append(got, topic) })
		op.Close()
		slices.Sort(got)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprint([]string{fmt.Sprintf("devices/sim-%04d/.u/c/main", i+1), fmt.Sprintf("devices/sim-%04d/.u/c/main", i+3)})
		if fmt.Sprint(got) != want {
			t.Errorf("broker %d holds reports %v, want %s", i+1, got, want)
		}
	}
	s := f.Stats()
	if s.Connected != 4 || s.Connections != 4 || s.Reports != 4 || s.ConnectErrors != 0 || s.ReportLatency.Max <= 0 {
		t.Errorf("summary %+v", s)
	}
}

// A fleet of 200 light devices updates, each with its own connection,
// and every report is acknowledged: the boot report and five for the
// update ((1,0), (2,0), (3,0), (3,1), (0,0)).
func TestTwoHundredDevicesUpdate(t *testing.T) {
	const n = 200
	h := start(t, Config{Devices: n, Ramp: 2000})
	h.publishRelease(h.op.Topics().Fleet(), manifestOpts{seq: 9, version: "1.1.0"})
	for _, d := range h.fleet.Devices() {
		h.rec.waitFor(t, d.ID+" idle on 1.1.0", isReport(d.ID, report.Idle, report.ReasonReady, "1.1.0"))
	}
	s := h.fleet.Stats()
	if s.Connected != n || s.Reports != 6*n || s.ReportErrors != 0 || s.FailedAttempts != 0 || s.Connections != 2*n {
		t.Errorf("summary %+v", s)
	}
}

// runFleet runs f until the returned stop is called, having waited, when
// ready is true, until every device has connected once.
func runFleet(t *testing.T, f *Fleet, ready bool) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	stop = func() { cancel(); <-done }
	if !ready {
		return stop
	}
	select {
	case <-f.Ready():
	case err := <-done:
		t.Fatalf("fleet stopped: %v", err)
	case <-time.After(safety):
		t.Fatal("fleet not ready")
	}
	return stop
}
