package fleet_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
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
	back := readBackJSON[map[string]any](t, g)
	if back["outcome"] != "failed" || back["failedCount"] != 1.0 || back["allowedFailures"] != 0.0 || len(back["pending"].([]any)) != 4 {
		t.Errorf("JSON = %v", back)
	}

	g = Evaluate(f, Gate{Version: "1.1", Expect: 9})
	if g.NotSeen != 4 || g.NotKnown != 4 {
		t.Errorf("expect 9: not seen %d, not known %d", g.NotSeen, g.NotKnown)
	}
}

func TestEvaluateCohort(t *testing.T) {
	f, _ := fleettest.New()
	g := Gate{Version: "1.1", Cohorts: []string{"canary"}, Expect: 2}
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

// gateJSON is a verdict as `rollout wait -o json` prints it, read back.
type gateJSON struct {
	Verdict       string        `json:"outcome"`
	Done          bool          `json:"done"`
	Failed        bool          `json:"failed"`
	TooManyFailed bool          `json:"tooManyFailed"`
	Unreachable   bool          `json:"unreachable"`
	Total         int           `json:"total"`
	Updated       int           `json:"updated"`
	Need          int           `json:"need"`
	FailedCount   int           `json:"failedCount"`
	Allowed       int           `json:"allowedFailures"`
	PendingCount  int           `json:"pendingCount"`
	NotSeen       int           `json:"notSeen"`
	NotKnown      int           `json:"notKnown"`
	Failures      []gateJSONRow `json:"failures"`
	Pending       []gateJSONRow `json:"pending"`
}

type gateJSONRow struct {
	Device string `json:"device"`
	Status string `json:"status"`
	Seen   bool   `json:"seen"`
}

func gateAsJSON(t *testing.T, g GateResult) gateJSON {
	t.Helper()
	return readBackJSON[gateJSON](t, g)
}

// readBackJSON is v in JSON read back as a T, as a program reading
// `-o json` sees it.
func readBackJSON[T any](t *testing.T, v any) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back T
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return back
}

// nLines makes n report lines "prefixI state reason version target".
func nLines(n int, prefix, rest string) []string {
	var l []string
	for i := range n {
		l = append(l, fmt.Sprintf("%s%02d %s", prefix, i, rest))
	}
	return l
}

func concat(parts ...[]string) []string { return slices.Concat(parts...) }

// TestEvaluateGoalUnreachable is the gate's decision table: done as soon
// as enough devices are updated, failed as soon as more failed than
// allowed or too few are left that could still update, pending otherwise.
func TestEvaluateGoalUnreachable(t *testing.T) {
	const (
		upd  = "3 1 1.1 -"   // updated to 1.1
		bad  = "1 5 1.0 1.1" // integrity check failed for 1.1
		dl   = "1 0 1.0 1.1" // downloading 1.1
		idle = "0 0 1.0 -"   // idle on 1.0, not yet told
	)
	pct := func(p float64) Threshold { return Threshold{Percent: p, IsShare: true} }
	n := func(c int) Threshold { return Threshold{Count: c} }
	tests := []struct {
		name               string
		lines              []string
		stale              bool // the clock moves past the stale duration after the lines
		gate               Gate
		verdict            string
		tooMany, unreached bool
	}{
		// The case: 96 updated, 4 failed, 0 pending, 5 allowed.
		// Every device must update (100%), 4 never will: failed at once.
		{"96 updated 4 failed 0 pending, all needed", concat(nLines(96, "u", upd), nLines(4, "f", bad)),
			false, Gate{Version: "1.1", MaxFailed: n(5)}, "failed", false, true},
		{"96 updated 4 failed, 96% needed: done", concat(nLines(96, "u", upd), nLines(4, "f", bad)),
			false, Gate{Version: "1.1", MinUpdated: 0.96, MaxFailed: n(5)}, "done", false, false},
		{"96 updated 4 failed, 97% needed: failed", concat(nLines(96, "u", upd), nLines(4, "f", bad)),
			false, Gate{Version: "1.1", MinUpdated: 0.97, MaxFailed: n(5)}, "failed", false, true},
		{"one failure of three with one allowed, all needed", []string{"a " + upd, "b " + bad, "c " + dl},
			false, Gate{Version: "1.1", MaxFailed: n(1)}, "failed", false, true},
		{"enough can still update", concat(nLines(90, "u", upd), nLines(4, "f", bad), nLines(6, "p", dl)),
			false, Gate{Version: "1.1", MinUpdated: 0.95, MaxFailed: n(5)}, "pending", false, false},
		{"exactly enough can still update", concat(nLines(90, "u", upd), nLines(5, "f", bad), nLines(5, "p", idle)),
			false, Gate{Version: "1.1", MinUpdated: 0.95, MaxFailed: n(5)}, "pending", false, false},
		{"one short of enough", concat(nLines(90, "u", upd), nLines(5, "f", bad), nLines(4, "p", dl), []string{"x " + bad}),
			false, Gate{Version: "1.1", MinUpdated: 0.95, MaxFailed: n(10)}, "failed", false, true},
		{"more failed than allowed, goal still reachable", concat(nLines(6, "f", bad), nLines(94, "p", dl)),
			false, Gate{Version: "1.1", MinUpdated: 0.9, MaxFailed: n(5)}, "failed", true, false},
		{"more failed than allowed and unreachable", concat(nLines(6, "f", bad), nLines(94, "p", dl)),
			false, Gate{Version: "1.1", MaxFailed: n(5)}, "failed", true, true},
		{"failure share rounds down, unreachable", concat(nLines(2, "u", upd), nLines(1, "f", bad), nLines(1, "p", dl)),
			false, Gate{Version: "1.1", MinUpdated: 1, MaxFailed: pct(25)}, "failed", false, true},
		{"stale devices can still update", concat(nLines(2, "u", upd), nLines(1, "f", bad), nLines(1, "p", dl)),
			true, Gate{Version: "1.1", MinUpdated: 0.75, MaxFailed: n(1)}, "pending", false, false},
		{"a failure about another version is not a failure", concat(nLines(3, "u", upd), []string{"o 1 5 1.0 1.0-rc"}),
			false, Gate{Version: "1.1"}, "pending", false, false},
		{"a failure naming no target is one", concat(nLines(3, "u", upd), []string{"o 0 2 1.0 -"}),
			false, Gate{Version: "1.1", MaxFailed: n(1)}, "failed", false, true},
		{"running another version can still update", concat(nLines(3, "u", upd), []string{"o 3 1 1.2 -", "f " + bad}),
			false, Gate{Version: "1.1", MinUpdated: 0.8, MaxFailed: n(1)}, "pending", false, false},
		{"listed devices that never reported can still update", []string{"a " + upd, "b " + bad},
			false, Gate{Version: "1.1", Devices: []string{"a", "b", "ghost"}, MinUpdated: 0.6, MaxFailed: n(1)}, "pending", false, false},
		{"listed devices: too few left", []string{"a " + upd, "b " + bad, "other " + upd},
			false, Gate{Version: "1.1", Devices: []string{"a", "b", "ghost"}, MaxFailed: n(1)}, "failed", false, true},
		{"expected devices not yet seen can still update", concat(nLines(5, "u", upd), nLines(1, "f", bad)),
			false, Gate{Version: "1.1", Expect: 10, MinUpdated: 0.9, MaxFailed: n(2)}, "pending", false, false},
		{"expected devices: too few left", concat(nLines(5, "u", upd), nLines(2, "f", bad)),
			false, Gate{Version: "1.1", Expect: 10, MinUpdated: 0.9, MaxFailed: n(2)}, "failed", false, true},
		{"no device that counts is pending, not failed", nil,
			false, Gate{Version: "1.1", MaxFailed: n(1)}, "pending", false, false},
		{"met goal is done", concat(nLines(9, "u", upd), nLines(1, "f", bad)),
			false, Gate{Version: "1.1", MinUpdated: 0.9, MaxFailed: n(1)}, "done", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := fleettest.FromLines(tt.lines...)
			if tt.stale {
				c.Advance(10 * time.Minute)
			}
			g := gateAsJSON(t, Evaluate(f, tt.gate))
			if g.Verdict != tt.verdict || g.TooManyFailed != tt.tooMany || g.Unreachable != tt.unreached ||
				g.Failed != (tt.verdict == "failed") || g.Done != (tt.verdict == "done") {
				t.Errorf("verdict %s (done %v, failed %v, too many failed %v, unreachable %v), want %s (too many %v, unreachable %v)\n%+v",
					g.Verdict, g.Done, g.Failed, g.TooManyFailed, g.Unreachable, tt.verdict, tt.tooMany, tt.unreached, g)
			}
			if tt.stale && !slices.ContainsFunc(g.Pending, func(r gateJSONRow) bool { return r.Status == "stale" }) {
				t.Errorf("no stale row: %+v", g.Pending)
			}
		})
	}
}

// TestEvaluateCohortUnreachable: a cohort's known members are judged as
// listed devices are.
func TestEvaluateCohortUnreachable(t *testing.T) {
	f, _ := fleettest.New()
	for _, d := range []string{"a", "b", "c"} {
		f.SetCohort(d, "canary")
	}
	f.Apply(fleettest.Rep("a", report.Updated, report.ReasonUpdated, "1.1", ""))
	f.Apply(fleettest.Rep("b", report.Downloading, report.ReasonReady, "1.0", "1.1"))
	f.Apply(fleettest.Rep("outsider", report.Downloading, report.ReasonConnectionLost, "1.0", "1.1"))
	g := Gate{Version: "1.1", Cohorts: []string{"canary"}, MinUpdated: 0.6, MaxFailed: Threshold{Count: 1}}
	if res := gateAsJSON(t, Evaluate(f, g)); res.Verdict != "pending" || res.Total != 3 || res.PendingCount != 2 || res.NotSeen != 1 {
		t.Fatalf("before the failure: %+v", res)
	}
	f.Apply(fleettest.Rep("b", report.Downloading, report.ReasonConnectionLost, "1.0", "1.1"))
	if res := gateAsJSON(t, Evaluate(f, g)); res.Verdict != "pending" || res.FailedCount != 1 || res.PendingCount != 1 {
		t.Fatalf("one failure, c can still update: %+v", res)
	}
	f.Apply(fleettest.Rep("c", report.Downloading, report.ReasonOutOfRAM, "1.0", "1.1"))
	if res := gateAsJSON(t, Evaluate(f, g)); res.Verdict != "failed" || !res.Unreachable || !res.TooManyFailed {
		t.Fatalf("two failures: %+v", res)
	}
}

// checkGateCounts checks that a verdict's counts and rows agree, as the
// -o json reader sees them.
func checkGateCounts(t *testing.T, what string, g gateJSON) {
	t.Helper()
	unseen := 0
	for _, r := range g.Pending {
		if !r.Seen {
			unseen++
		}
		if r.Status != "pending" && r.Status != "stale" {
			t.Errorf("%s: pending row %s has status %s", what, r.Device, r.Status)
		}
	}
	for _, r := range g.Failures {
		if !r.Seen || (r.Status != "failed" && r.Status != "retrying") {
			t.Errorf("%s: failure row %s: seen %v status %s", what, r.Device, r.Seen, r.Status)
		}
	}
	switch {
	case g.FailedCount != len(g.Failures):
		t.Errorf("%s: failedCount %d, %d failure rows", what, g.FailedCount, len(g.Failures))
	case g.PendingCount != len(g.Pending)+g.NotKnown:
		t.Errorf("%s: pendingCount %d, %d pending rows and %d not known", what, g.PendingCount, len(g.Pending), g.NotKnown)
	case g.NotSeen != unseen+g.NotKnown:
		t.Errorf("%s: notSeen %d, %d pending rows with seen false and %d not known", what, g.NotSeen, unseen, g.NotKnown)
	case g.Total != g.Updated+g.FailedCount+g.PendingCount:
		t.Errorf("%s: total %d, %d updated + %d failed + %d pending", what, g.Total, g.Updated, g.FailedCount, g.PendingCount)
	case g.TooManyFailed != (g.FailedCount > g.Allowed):
		t.Errorf("%s: tooManyFailed %v with %d failed, %d allowed", what, g.TooManyFailed, g.FailedCount, g.Allowed)
	case g.Unreachable != (g.Total > 0 && g.Updated+g.PendingCount < g.Need):
		t.Errorf("%s: unreachable %v with %d updated, %d pending, %d needed", what, g.Unreachable, g.Updated, g.PendingCount, g.Need)
	case g.Failed != (g.TooManyFailed || g.Unreachable):
		t.Errorf("%s: failed %v", what, g.Failed)
	case g.Done != (!g.Failed && g.Total > 0 && g.Updated >= g.Need):
		t.Errorf("%s: done %v", what, g.Done)
	case g.Verdict != verdictOf(g.Done, g.Failed):
		t.Errorf("%s: verdict %s, done %v, failed %v", what, g.Verdict, g.Done, g.Failed)
	}
}

func verdictOf(done, failed bool) string {
	switch {
	case failed:
		return "failed"
	case done:
		return "done"
	}
	return "pending"
}

// TestGateResultCountsAgree checks, for many fleets, that the verdict's
// counts add up to its rows: a device listed without a report is counted
// as not seen, and no count contradicts the rows.
func TestGateResultCountsAgree(t *testing.T) {
	// The case: a named device that never reported.
	f, _ := fleettest.FromLines("a 3 1 1.1 -", "b 1 0 1.0 1.1")
	g := gateAsJSON(t, Evaluate(f, Gate{Version: "1.1", Devices: []string{"a", "b", "ghost"}}))
	if g.NotSeen != 1 || g.NotKnown != 0 || g.PendingCount != 2 || len(g.Pending) != 2 {
		t.Errorf("named device without a report: %+v", g)
	}
	checkGateCounts(t, "named", g)

	rng := rand.New(rand.NewPCG(9, 7))
	reports := []string{"3 1 1.1 -", "0 0 1.1 -", "1 0 1.0 1.1", "1 5 1.0 1.1", "0 2 1.0 -", "0 11 1.0 1.1", "1 4 1.0 0.9", "3 1 1.2 -", "7 42 1.0 -"}
	for i := range 300 {
		f, c := fleettest.New()
		n := rng.IntN(30)
		var ids []string
		for d := range n {
			id := fmt.Sprintf("d%02d", d)
			ids = append(ids, id)
			if rng.IntN(5) == 0 {
				continue // never reports
			}
			var s, r int
			var v, tg string
			fmt.Sscan(reports[rng.IntN(len(reports))], &s, &r, &v, &tg)
			pkg := "main"
			if rng.IntN(8) == 0 {
				pkg = "modem" // reported for another package only
			}
			rp := fleettest.Rep(id, report.State(s), report.Reason(r), v, trimDash(tg))
			rp.Package, rp.Topic = pkg, fleettest.ReportTopic(id, pkg)
			f.Apply(rp)
			if rng.IntN(3) == 0 {
				f.SetCohort(id, "canary")
			}
			if rng.IntN(4) == 0 {
				c.Advance(2 * time.Minute)
			}
		}
		gate := Gate{Version: "1.1", MinUpdated: []float64{0, 0.5, 0.9, 1}[rng.IntN(4)], MaxFailed: Threshold{Count: rng.IntN(4)}}
		switch rng.IntN(4) {
		case 0: // named devices, some unknown
			for _, id := range ids {
				if rng.IntN(2) == 0 {
					gate.Devices = append(gate.Devices, id)
				}
			}
			gate.Devices = append(gate.Devices, "ghost")
		case 1:
			gate.Cohorts = []string{"canary"}
			gate.Expect = rng.IntN(10)
		case 2:
			gate.Expect = rng.IntN(40)
		}
		checkGateCounts(t, fmt.Sprintf("fleet %d (%+v)", i, gate), gateAsJSON(t, Evaluate(f, gate)))
	}
}

func trimDash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}
