package simulator

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Two processes' summaries sum up to the summary of one process that ran
// every device: the same counts and the same percentiles, exactly.
func TestMergeSummariesIsOneProcess(t *testing.T) {
	a, b, all := newStats(), newStats(), newStats()
	record := func(s *Stats, ms ...int) {
		for _, m := range ms {
			for _, x := range []*Stats{s, all} {
				x.count(EventReport)
				x.reported(time.Duration(m) * time.Millisecond)
			}
		}
	}
	record(a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 200)
	record(b, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 400)
	for _, x := range []*Stats{a, all} {
		x.up()
		x.connected(nil)
		x.count(EventFailed)
	}
	for _, x := range []*Stats{b, all} {
		x.up()
		x.up()
		x.connected(nil)
		x.connected(errors.New("refused"))
		x.count(EventError)
	}
	want := all.Summary(30)
	// Through JSON, as the summaries come from the processes' streams.
	var sums []Summary
	for _, s := range []Summary{a.Summary(10), b.Summary(20)} {
		line, err := json.Marshal(struct {
			Schema string `json:"schema"`
			Kind   string `json:"kind"`
			Summary
		}{"otactl/simulate-summary/v1", "summary", s})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadSummaries(strings.NewReader(`{"schema":"otactl/simulate-event/v1","device":"sim-0001","kind":"report"}`+"\nsimulate: some text\n"+string(line)+"\n"), "stream")
		if err != nil || len(got) != 1 {
			t.Fatalf("read %s: %v %v", line, got, err)
		}
		sums = append(sums, got[0])
	}
	got, err := MergeSummaries(sums)
	if err != nil {
		t.Fatal(err)
	}
	if got.Processes != 2 {
		t.Errorf("processes %d", got.Processes)
	}
	got.Processes, got.RampSeconds, got.ConnectRate = 0, want.RampSeconds, want.ConnectRate
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged\n%+v\nwant\n%+v", got, want)
	}
	if want.ReportLatency.P90 != 122.879 || want.Devices != 30 || want.Connected != 3 || want.Reports != 23 {
		t.Errorf("the figures are not what was recorded: %+v", want)
	}
}

func TestMergeSummariesRefusesWhatCannotBeSummed(t *testing.T) {
	if _, err := MergeSummaries([]Summary{{Devices: 1, Reports: 5, ReportLatency: Latency{P50: 1}}}); err == nil || !strings.Contains(err.Error(), "no latency histogram") {
		t.Errorf("no histogram: %v", err)
	}
	if _, err := MergeSummaries([]Summary{{Reports: 1, ReportLatencyHistogram: []LatencyBucket{{UpperUs: 1000, Count: 1}}}}); err == nil || !strings.Contains(err.Error(), "not one of otactl's") {
		t.Errorf("a bucket of another histogram: %v", err)
	}
	_, err := ReadSummaries(strings.NewReader(`{"schema":"otactl/simulate-summary/v1","kind":"summary","devices":`+"\n"), "cut.jsonl")
	if err == nil || !strings.Contains(err.Error(), "cut.jsonl, line 1") {
		t.Errorf("a summary cut short: %v", err)
	}
}

// TestMergeSummariesChecksShards: shards that do not make one fleet are
// refused: one given twice (also as "01/2"), one missing, a fleet cut in
// two mixed with one cut in three, a whole fleet's summary mixed in.
func TestMergeSummariesChecksShards(t *testing.T) {
	sh := func(s string) Summary { return Summary{Devices: 1, Shard: s} }
	for _, tc := range []struct {
		sums []Summary
		want string
	}{
		{[]Summary{sh("1/2"), sh("2/2")}, ""},
		{[]Summary{sh("1/2"), sh("01/2"), sh("2/2")}, "shard 1/2 is there twice"},
		{[]Summary{sh("1/3"), sh("3/3")}, "no summary of shard 2/3"},
		{[]Summary{sh("1/2"), sh("2/3")}, "not one fleet"},
		{[]Summary{sh("1/2"), sh("2/2"), sh("")}, "without --shard"},
	} {
		_, err := MergeSummaries(tc.sums)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.sums, err, tc.want)
		}
	}
}
