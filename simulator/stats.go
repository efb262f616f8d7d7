package simulator

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// statReportError counts a report whose publish failed (a Stats kind
// beside the event kinds).
const statReportError = "report-error"

// Stats are a fleet's load figures, for a user who runs the simulator
// against their own broker: connections, the latency of reports and the
// failures. Safe for concurrent use; memory is fixed whatever the fleet.
type Stats struct {
	start time.Time

	mu       sync.Mutex
	first    int           // devices connected at least once
	lastUp   time.Duration // when the last of them first connected
	maxLatUs int64

	connections, connectErrors atomic.Int64
	reports, reportErrors      atomic.Int64
	failed, refused, errors    atomic.Int64
	latency                    [latencyBuckets]atomic.Int64
}

// latencyBuckets covers 1 µs to 2^40 µs in 8 buckets per power of two: a
// percentile is exact to within one eighth.
const latencyBuckets = 8 * 40

func newStats() *Stats { return &Stats{start: time.Now()} }

// count counts an event of kind.
func (s *Stats) count(kind string) {
	if s == nil {
		return
	}
	switch kind {
	case EventReport:
		s.reports.Add(1)
	case EventFailed:
		s.failed.Add(1)
	case EventRefused:
		s.refused.Add(1)
	case EventError:
		s.errors.Add(1)
	case statReportError:
		s.reportErrors.Add(1)
	}
}

// connected counts a connection made, or one that failed.
func (s *Stats) connected(err error) {
	if s == nil {
		return
	}
	if err != nil {
		s.connectErrors.Add(1)
		return
	}
	s.connections.Add(1)
}

// up counts a device's first connection.
func (s *Stats) up() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.first++
	s.lastUp = time.Since(s.start)
	s.mu.Unlock()
}

// reported records the time from a report's PUBLISH to its PUBACK.
func (s *Stats) reported(dt time.Duration) {
	if s == nil {
		return
	}
	us := max(dt.Microseconds(), 0)
	s.latency[latencyBucket(us)].Add(1)
	s.mu.Lock()
	s.maxLatUs = max(s.maxLatUs, us)
	s.mu.Unlock()
}

// latencyBucket is the bucket of a latency of us microseconds: the value
// itself below 8, else 8 buckets for each power of two.
func latencyBucket(us int64) int {
	if us < 8 {
		return int(us)
	}
	e := bits.Len64(uint64(us)) - 1
	i := 8*(e-2) + int(us>>(e-3))&7
	return min(i, latencyBuckets-1)
}

// latencyUpper is the largest latency, in microseconds, in bucket i.
func latencyUpper(i int) int64 {
	if i < 8 {
		return int64(i)
	}
	e, m := i/8+2, int64(i%8)
	return (9+m)<<(e-3) - 1
}

// Latency are percentiles of the report latency, in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Summary is what Stats say at one moment.
type Summary struct {
	Devices int `json:"devices"`
	// Connected devices connected at least once; RampSeconds is from the
	// start until the last of them did, and ConnectRate their first
	// connections per second over that time.
	Connected   int     `json:"connected"`
	RampSeconds float64 `json:"rampSeconds"`
	ConnectRate float64 `json:"connectRate"`
	// Connections counts every connection made, reconnects and reboots
	// included; ConnectErrors those that failed.
	Connections   int64 `json:"connections"`
	ConnectErrors int64 `json:"connectErrors"`
	// Reports were acknowledged by the broker (PUBACK), with the time
	// from PUBLISH to PUBACK in ReportLatency; ReportErrors failed.
	Reports       int64   `json:"reports"`
	ReportErrors  int64   `json:"reportErrors"`
	ReportLatency Latency `json:"reportLatencyMs"`
	// FailedAttempts are failed update attempts, Refused refused
	// manifests, Errors everything else that went wrong (lost
	// connections, failed reports).
	FailedAttempts int64 `json:"failedAttempts"`
	Refused        int64 `json:"refused"`
	Errors         int64 `json:"errors"`
	// Processes is how many processes' summaries were summed up into this
	// one (MergeSummaries); 0 for one process's own.
	Processes int `json:"processes,omitempty"`
	// Shard is the process's --shard I/N, empty when it ran the whole
	// fleet or for a summary summed up.
	Shard string `json:"shard,omitempty"`
	// ReportLatencyHistogram is ReportLatency's histogram, its non-empty
	// buckets in order, so that the summaries of several processes sum up
	// to exact percentiles (MergeSummaries).
	ReportLatencyHistogram []LatencyBucket `json:"reportLatencyHistogram,omitempty"`
}

// LatencyBucket is one bucket of a latency histogram: Count latencies of
// at most UpperUs microseconds (and more than the bucket before's).
type LatencyBucket struct {
	UpperUs int64 `json:"upperUs"`
	Count   int64 `json:"count"`
}

// Summary sums up the figures of a fleet of n devices.
func (s *Stats) Summary(n int) Summary {
	s.mu.Lock()
	out := Summary{Devices: n, Connected: s.first, RampSeconds: s.lastUp.Seconds()}
	maxUs := s.maxLatUs
	s.mu.Unlock()
	if out.RampSeconds > 0 {
		out.ConnectRate = math.Round(float64(out.Connected)/out.RampSeconds*10) / 10
	}
	out.Connections, out.ConnectErrors = s.connections.Load(), s.connectErrors.Load()
	out.Reports, out.ReportErrors = s.reports.Load(), s.reportErrors.Load()
	out.FailedAttempts, out.Refused, out.Errors = s.failed.Load(), s.refused.Load(), s.errors.Load()
	var counts [latencyBuckets]int64
	for i := range counts {
		counts[i] = s.latency[i].Load()
		if counts[i] > 0 {
			out.ReportLatencyHistogram = append(out.ReportLatencyHistogram, LatencyBucket{UpperUs: latencyUpper(i), Count: counts[i]})
		}
	}
	out.ReportLatency = latencyOf(&counts, maxUs)
	return out
}

// latencyOf is the percentiles of a latency histogram whose largest
// latency was maxUs microseconds.
func latencyOf(counts *[latencyBuckets]int64, maxUs int64) Latency {
	total := int64(0)
	for _, c := range counts {
		total += c
	}
	ms := func(q float64) float64 {
		if total == 0 {
			return 0
		}
		want, seen := int64(math.Ceil(q*float64(total))), int64(0)
		for i, c := range counts {
			if seen += c; seen >= want {
				return float64(min(latencyUpper(i), maxUs)) / 1000
			}
		}
		return float64(maxUs) / 1000
	}
	return Latency{P50: ms(0.5), P90: ms(0.9), P99: ms(0.99), Max: float64(maxUs) / 1000}
}

// BudgetFrom is the smallest fleet that needs a MemoryBudget: below it the
// Go runtime's defaults cost little.
const BudgetFrom = 1000

// MemoryBudget is the soft memory limit (runtime/debug.SetMemoryLimit)
// for a process that runs n devices: 24 KiB each and 32 MiB for the rest.
// An idle device holds about 21 KiB (two goroutine stacks, a 2 KiB read
// buffer, its connection and state); under the limit the garbage
// collector runs often enough during an update to give back the stacks
// that grew while manifests were verified, which keeps the peak near the
// idle size instead of doubling it.
func MemoryBudget(n int) int64 { return int64(n)*24<<10 + 32<<20 }
