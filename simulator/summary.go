package simulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
)

// The summaries of several simulate processes (--shard I/N), summed up
// into the one summary of the whole fleet (docs/fleet.md).

// maxSummaryLine bounds one line of simulate's JSON stream: a summary
// with every latency bucket is about 10 KB.
const maxSummaryLine = 1 << 20

// ReadSummaries reads the summaries in r: the lines of `otactl simulate
// -o json` streams (any number of them, one after another) whose "kind"
// is "summary". Other lines (events, text) are skipped; a summary line
// that does not decode is an error naming its line, so that no process
// is left out unseen.
func ReadSummaries(r io.Reader, name string) ([]Summary, error) {
	var out []Summary
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxSummaryLine)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		var head struct {
			Schema string `json:"schema"`
			Kind   string `json:"kind"`
		}
		if len(line) == 0 || line[0] != '{' || !bytes.Contains(line, []byte(`"summary"`)) {
			continue
		}
		if err := json.Unmarshal(line, &head); err != nil || head.Kind != "summary" || !strings.HasPrefix(head.Schema, "otactl/simulate-summary/") {
			if err != nil && bytes.Contains(line, []byte(`"otactl/simulate-summary/`)) {
				return nil, fmt.Errorf("%s, line %d: a summary that does not decode: %v", name, n, err)
			}
			continue
		}
		var s Summary
		if err := json.Unmarshal(line, &s); err != nil {
			return nil, fmt.Errorf("%s, line %d: %w", name, n, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// MergeSummaries sums up the summaries of processes that ran one fleet
// together: counts are added, the ramp is the longest one (the processes
// start together) and the connection rate is over it, and the report
// latency's percentiles come from the processes' histograms added up, so
// they are those of one process that ran every device. A summary with
// reports and no histogram (from an otactl before it had one) cannot be
// summed up, and is an error.
func MergeSummaries(sums []Summary) (Summary, error) {
	if err := checkShards(sums); err != nil {
		return Summary{}, err
	}
	var out Summary
	var counts [latencyBuckets]int64
	var maxUs int64
	for i, s := range sums {
		out.Processes += max(s.Processes, 1)
		out.Devices += s.Devices
		out.Connected += s.Connected
		out.RampSeconds = max(out.RampSeconds, s.RampSeconds)
		out.Connections += s.Connections
		out.ConnectErrors += s.ConnectErrors
		out.Reports += s.Reports
		out.ReportErrors += s.ReportErrors
		out.FailedAttempts += s.FailedAttempts
		out.Refused += s.Refused
		out.Errors += s.Errors
		if s.Reports > 0 && len(s.ReportLatencyHistogram) == 0 {
			return Summary{}, fmt.Errorf("summary %d of %d has %d reports and no latency histogram (made by an older otactl): its percentiles cannot be summed up", i+1, len(sums), s.Reports)
		}
		for _, b := range s.ReportLatencyHistogram {
			j := latencyBucket(b.UpperUs)
			if b.UpperUs < 0 || b.Count < 0 || latencyUpper(j) != b.UpperUs {
				return Summary{}, fmt.Errorf("summary %d of %d: latency bucket {%d µs, %d} is not one of otactl's", i+1, len(sums), b.UpperUs, b.Count)
			}
			counts[j] += b.Count
		}
		maxUs = max(maxUs, int64(math.Round(s.ReportLatency.Max*1000)))
	}
	if out.RampSeconds > 0 {
		out.ConnectRate = math.Round(float64(out.Connected)/out.RampSeconds*10) / 10
	}
	for i, c := range counts {
		if c > 0 {
			out.ReportLatencyHistogram = append(out.ReportLatencyHistogram, LatencyBucket{UpperUs: latencyUpper(i), Count: c})
		}
	}
	out.ReportLatency = latencyOf(&counts, maxUs)
	return out, nil
}

// checkShards refuses summaries of shards (--shard I/N) that do not make
// one fleet: a shard given twice (the same stream read twice), shards of
// fleets cut in different numbers, or a shard missing (a process whose
// summary is not there): each would make the sum wrong without a word.
func checkShards(sums []Summary) error {
	seen := map[string]bool{}
	n, whole := 0, 0
	for _, s := range sums {
		if s.Shard == "" {
			whole++
			continue
		}
		i, of, err := ParseShard(s.Shard)
		if err != nil {
			return fmt.Errorf("a summary of shard %q: %w", s.Shard, err)
		}
		if n != 0 && of != n {
			return fmt.Errorf("summaries of shards of %d and of %d processes: not one fleet", n, of)
		}
		n = of
		shard := fmt.Sprintf("%d/%d", i, of) // "01/2" is 1/2
		if seen[shard] {
			return fmt.Errorf("the summary of shard %s is there twice (the same output given twice?)", shard)
		}
		seen[shard] = true
	}
	if n == 0 {
		return nil
	}
	if whole > 0 {
		return fmt.Errorf("%d summaries without --shard given with the shards of a fleet cut in %d: not one fleet", whole, n)
	}
	var missing []string
	for i := 1; i <= n; i++ {
		if sh := fmt.Sprintf("%d/%d", i, n); !seen[sh] {
			missing = append(missing, sh)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no summary of shard %s (did that process stop before printing it?)", strings.Join(missing, ", "))
	}
	return nil
}
