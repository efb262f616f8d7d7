package fleet_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	. "github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/fleet/fleettest"
	"github.com/otactl/otactl/report"
)

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in    string
		want  Threshold
		of20  int
		isErr bool
	}{
		{"0", Threshold{}, 0, false},
		{"3", Threshold{Count: 3}, 3, false},
		{"10%", Threshold{Percent: 10, IsShare: true}, 2, false},
		{" 12.5% ", Threshold{Percent: 12.5, IsShare: true}, 2, false},
		{"100%", Threshold{Percent: 100, IsShare: true}, 20, false},
		{"-1", Threshold{}, 0, true},
		{"101%", Threshold{}, 0, true},
		{"x", Threshold{}, 0, true},
		{"%", Threshold{}, 0, true},
	}
	for _, tt := range tests {
		got, err := ParseThreshold(tt.in)
		if (err != nil) != tt.isErr || got != tt.want || (err == nil && got.Of(20) != tt.of20) {
			t.Errorf("ParseThreshold(%q) = %+v (of 20: %d), %v", tt.in, got, got.Of(20), err)
		}
	}
	if s := (Threshold{Percent: 12.5, IsShare: true}).String(); s != "12.5%" {
		t.Errorf("String = %q", s)
	}
}

func TestParseShare(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"100%", 1, true}, {"90%", 0.9, true}, {"0.5", 0.5, true}, {"1", 1, true}, {"0%", 0, true},
		{"150%", 0, false}, {"2", 0, false}, {"half", 0, false}, {"-5%", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseShare(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseShare(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestEvaluate(t *testing.T) {
	updated := func(d string) string { return d + " 3 1 1.1 -" }
	downloading := func(d string) string { return d + " 1 0 1.0 1.1" }
	tests := []struct {
		name     string
		lines    []string
		gate     Gate
		verdict  string
		updated  int
		need     int
		failures []string
		pending  []string
		total    int
	}{
		{"all updated", []string{updated("a"), "b 0 0 1.1 -"}, Gate{Version: "1.1"}, "done", 2, 2, nil, nil, 2},
		{"one still downloading", []string{updated("a"), downloading("b")}, Gate{Version: "1.1"}, "pending", 1, 2, nil, []string{"b"}, 2},
		{"one failure fails by default", []string{updated("a"), "b 1 5 1.0 1.1"}, Gate{Version: "1.1"}, "failed", 1, 2, []string{"b"}, nil, 2},
		{"failure within the allowance", []string{updated("a"), "b 1 5 1.0 1.1", downloading("c")},
			Gate{Version: "1.1", MinUpdated: 0.5, MaxFailed: Threshold{Count: 1}}, "pending", 1, 2, []string{"b"}, []string{"c"}, 3},
		{"failure share rounds down", []string{updated("a"), "b 1 4 1.0 1.1", "c 1 10 1.0 1.1", downloading("d")},
			Gate{Version: "1.1", MinUpdated: 0.5, MaxFailed: Threshold{Percent: 50, IsShare: true}}, "pending", 1, 2, []string{"b", "c"}, []string{"d"}, 4},
		{"min updated share reached", []string{updated("a"), updated("b"), downloading("c"), downloading("d")},
			Gate{Version: "1.1", MinUpdated: 0.5}, "done", 2, 2, nil, []string{"c", "d"}, 4},
		{"min updated rounds up", []string{updated("a"), downloading("b"), downloading("c")},
			Gate{Version: "1.1", MinUpdated: 0.5}, "pending", 1, 2, nil, []string{"b", "c"}, 3},
		{"failed wins over done", []string{updated("a"), updated("b"), "c 1 8 1.0 1.1"},
			Gate{Version: "1.1", MinUpdated: 0.5}, "failed", 2, 2, []string{"c"}, nil, 3},
		{"awaiting retry of the version is failed", []string{"a 0 11 1.0 1.1"}, Gate{Version: "1.1"}, "failed", 0, 1, []string{"a"}, nil, 1},
		{"awaiting retry, told to count it as pending", []string{"a 0 11 1.0 1.1"}, Gate{Version: "1.1", RetryingAsPending: true}, "pending", 0, 1, nil, []string{"a"}, 1},
		{"awaiting retry of another version is pending", []string{"a 0 11 1.0 1.0-rc"}, Gate{Version: "1.1"}, "pending", 0, 1, nil, []string{"a"}, 1},
		{"old failure about another version is pending", []string{"a 1 5 1.0 1.0-rc"}, Gate{Version: "1.1"}, "pending", 0, 1, nil, []string{"a"}, 1},
		{"failure without a target counts", []string{"a 0 2 1.0 -"}, Gate{Version: "1.1"}, "failed", 0, 1, []string{"a"}, nil, 1},
		{"updated to another version is pending", []string{"a 3 1 1.2 -"}, Gate{Version: "1.1"}, "pending", 0, 1, nil, []string{"a"}, 1},
		{"no devices never passes", nil, Gate{Version: "1.1"}, "pending", 0, 1, nil, nil, 0},
		{"named devices, one never reported", []string{updated("a"), updated("b")},
			Gate{Version: "1.1", Devices: []string{"a", "z"}}, "pending", 1, 2, nil, []string{"z"}, 2},
		{"named devices all updated, others ignored", []string{updated("a"), "b 1 5 1.0 1.1"},
			Gate{Version: "1.1", Devices: []string{"a"}}, "done", 1, 1, nil, nil, 1},
		{"expect more than have reported", []string{updated("a"), updated("b")},
			Gate{Version: "1.1", Expect: 3}, "pending", 2, 3, nil, nil, 3},
		{"expect fewer than have reported", []string{updated("a"), updated("b"), downloading("c")},
			Gate{Version: "1.1", Expect: 2}, "pending", 2, 3, nil, []string{"c"}, 3},
		{"another package does not count", []string{updated("a")},
			Gate{Version: "1.1", Package: "modem"}, "pending", 0, 1, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := fleettest.FromLines(tt.lines...)
			g := Evaluate(f, tt.gate)
			ids := func(rows []Row) []string {
				var s []string
				for _, r := range rows {
					s = append(s, r.Report.Device)
				}
				return s
			}
			if g.Verdict != tt.verdict || g.Updated != tt.updated || g.Need != tt.need || g.Total != tt.total ||
				!slices.Equal(ids(g.Failures), tt.failures) || !slices.Equal(ids(g.Pending), tt.pending) {
				t.Errorf("got %s: updated %d need %d total %d failures %v pending %v\nwant %s: updated %d need %d total %d failures %v pending %v",
					g.Verdict, g.Updated, g.Need, g.Total, ids(g.Failures), ids(g.Pending),
					tt.verdict, tt.updated, tt.need, tt.total, tt.failures, tt.pending)
			}
			if g.Done != (tt.verdict == "done") || g.Failed != (tt.verdict == "failed") {
				t.Errorf("Done %v Failed %v for verdict %s", g.Done, g.Failed, g.Verdict)
			}
			if g.PendingCount != len(g.Pending)+g.NotKnown || g.FailedCount != len(g.Failures) {
				t.Errorf("counts: pending %d (%d listed, %d not known), failed %d", g.PendingCount, len(g.Pending), g.NotKnown, g.FailedCount)
			}
		})
	}
}

func TestEvaluateStale(t *testing.T) {
	f, c := fleettest.FromLines("ok 3 1 1.1 -", "slow 1 0 1.0 1.1", "bad 1 5 1.0 1.1", "retry 0 11 1.0 1.1")
	c.Advance(6 * time.Minute)
	f.Apply(fleettest.Rep("fresh", report.Downloaded, 0, "1.0", "1.1"))
	g := Evaluate(f, Gate{Version: "1.1", Devices: []string{"ok", "slow", "bad", "retry", "fresh", "ghost"}, RetryingAsPending: true})
	if g.Verdict != "failed" {
		t.Fatalf("verdict %s", g.Verdict)
	}
	var st []string
	for _, r := range g.Pending {
		st = append(st, r.Report.Device+":"+r.Status.String())
	}
	if want := []string{"ghost:stale", "retry:stale", "slow:stale", "fresh:pending"}; !slices.Equal(st, want) {
		t.Errorf("pending = %v, want %v", st, want)
	}
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back["verdict"] != "failed" || back["failedCount"] != 1.0 || back["allowedFailures"] != 0.0 || len(back["pending"].([]any)) != 4 {
		t.Errorf("JSON = %s", b)
	}

	g = Evaluate(f, Gate{Version: "1.1", Expect: 9})
	if g.NotSeen != 4 || g.NotKnown != 4 {
		t.Errorf("expect 9: not seen %d, not known %d", g.NotSeen, g.NotKnown)
	}
}

func TestEvaluateCohort(t *testing.T) {
	f, _ := fleettest.New()
	g := Gate{Version: "1.1", Cohort: "canary", Expect: 2}
	res := Evaluate(f, g)
	if res.Verdict != "pending" || res.Total != 2 || res.NotSeen != 2 {
		t.Fatalf("no member yet: %+v", res)
	}
	f.Apply(fleettest.Rep("a", report.Idle, report.ReasonReady, "1.1", ""))
	f.Apply(fleettest.Rep("other", report.Idle, report.ReasonReady, "1.1", ""))
	f.SetCohort("a", "canary")
	res = Evaluate(f, g)
	if res.Verdict != "pending" || res.Updated != 1 || res.Total != 2 || res.NotSeen != 1 {
		t.Fatalf("one member of two expected: %+v", res)
	}
	f.Apply(fleettest.Rep("b", report.Updated, report.ReasonUpdated, "1.1", ""))
	f.SetCohort("b", "canary")
	if res = Evaluate(f, g); res.Verdict != "done" || res.Updated != 2 || res.Total != 2 {
		t.Fatalf("both members updated: %+v", res)
	}
}
