package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/internal/testsecrets"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/simulator"
	"github.com/otactl/otactl/upload"
)

// simPublish publishes component main@version (n bytes) and a manifest for
// it on the fleet topic.
func simPublish(t *testing.T, c *upload.Client, seq int64, version string, n int) {
	t.Helper()
	img := make([]byte, n)
	for i := range img {
		img[i] = byte(i * 7)
	}
	sum := sha256.Sum256(img)
	m := &release.Manifest{SequenceNumber: seq, Components: []release.Component{{
		Package: "main", Version: version, Hash: hex.EncodeToString(sum[:]), Size: int64(n), URI: release.ComponentURI("main", version),
	}}}
	m.Seal()
	payload, err := release.EncodeJSON(m)
	if err != nil {
		t.Fatal(err)
	}
	topic, _ := c.Topics().Component("main", version)
	if err := c.PublishVerified(context.Background(), topic, img); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishVerified(context.Background(), c.Topics().Fleet(), payload); err != nil {
		t.Fatal(err)
	}
}

// simReports reads every retained report, decoded, by device.
func simReports(t *testing.T, c *upload.Client) map[string]report.Report {
	t.Helper()
	out := map[string]report.Report{}
	err := c.ReadRetainedAll(context.Background(), c.Topics().ReportsFilter(), func(topic string, payload []byte) {
		r, err := report.FromMessage(c.Topics(), topic, payload, time.Now())
		if err != nil {
			t.Errorf("report on %s (%x): %v", topic, payload, err)
			return
		}
		out[r.Device] = r
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSimulateCommand(t *testing.T) {
	t.Parallel()
	b := testbroker.Embedded(t, broker.Config{TopicPrefix: "acme/"})
	op, err := upload.Connect(context.Background(), upload.Options{Broker: b.URL, TopicPrefix: "acme/"})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()

	sys, out, errOut := fleetSystem(t, "", map[string]string{"OTACTL_TOPIC_PREFIX": "acme/", "XDG_CONFIG_HOME": t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- runMain(ctx, []string{"otactl", "simulate", "--broker", b.URL, "--devices", "4", "--id-prefix", "t-",
			"--report-encoding", "mixed", "--report-keys", "mixed", "--reboot-time", "10ms", "--seed", "7", "-o", "json"}, sys)
	}()

	// Every device reports itself idle on 1.0.0 first.
	deadline := time.Now().Add(60 * time.Second)
	for len(simReports(t, op)) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("devices never reported: %s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	simPublish(t, op, 10, "1.1.0", 3000)
	for {
		done := 0
		for _, r := range simReports(t, op) {
			if r.UpdatedTo("1.1.0") && r.State == report.Idle {
				done++
			}
		}
		if done == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("devices did not update: %v\n%s", simReports(t, op), errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("simulate exited %d: %s", c, errOut.String())
	}
	// -o json: one event per line, every device's (3,1).
	updated := map[string]bool{}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// The last line sums up the run.
	var sum struct {
		Kind string `json:"kind"`
		simulator.Summary
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Kind != "summary" {
		t.Fatalf("last line is not the summary: %q", lines[len(lines)-1])
	}
	if sum.Devices != 4 || sum.Connected != 4 || sum.Reports != 24 || sum.ReportLatency.P50 <= 0 || sum.ReportLatency.P99 < sum.ReportLatency.P50 {
		t.Errorf("summary %+v", sum)
	}
	for _, line := range lines[:len(lines)-1] {
		var e simulator.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON event: %q", line)
		}
		if e.Kind == simulator.EventReport && e.State == report.Updated && e.Reason == report.ReasonUpdated {
			updated[e.Device] = true
		}
	}
	if len(updated) != 4 || !updated["t-0001"] || !updated["t-0004"] {
		t.Errorf("updated events for %v", updated)
	}
	if !strings.Contains(errOut.String(), "simulate: 4 devices (t-0001...) on main 1.0.0") || !strings.Contains(errOut.String(), "stopped: 1.1.0 idle 4") {
		t.Errorf("stderr:\n%s", errOut.String())
	}
}

// Against a broker with users each device logs in as itself; the
// operator's user name from the environment is not the devices'.
func TestSimulateCommandLogsInAsDevices(t *testing.T) {
	t.Parallel()
	const devPW, opsPW = "dev-pw-simulate", "ops-pw-simulate"
	testsecrets.Register(t, "device password", devPW)
	testsecrets.Register(t, "operator password", opsPW)
	hash, err := broker.HashPassword([]byte(devPW), 1000)
	if err != nil {
		t.Fatal(err)
	}
	opsHash, _ := broker.HashPassword([]byte(opsPW), 1000)
	users, err := broker.ParseUsers(strings.NewReader(strings.Join([]string{
		broker.FormatUser("ops", broker.RoleOperator, "", opsHash),
		broker.FormatUser("t-0001", broker.RoleDevice, "", hash),
		broker.FormatUser("t-0002", broker.RoleDevice, "", hash),
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	b := testbroker.Embedded(t, broker.Config{Users: users})
	op, err := upload.Connect(context.Background(), upload.Options{Broker: b.URL, Username: "ops", Password: opsPW})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()

	sys, _, errOut := fleetSystem(t, "", map[string]string{"OTACTL_PASSWORD": devPW, "OTACTL_USERNAME": "ops", "XDG_CONFIG_HOME": t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- runMain(ctx, []string{"otactl", "simulate", "--broker", b.URL, "--devices", "2", "--id-prefix", "t-"}, sys)
	}()
	simWait(t, code, errOut, cancel, func() bool { return len(simReports(t, op)) >= 2 })
	if !strings.Contains(errOut.String(), "as itself") {
		t.Errorf("stderr does not say the devices log in as themselves:\n%s", errOut.String())
	}
}

// --shard runs one slice of the fleet's ids and --connect spreads them
// over brokers by their index in the whole fleet: shard 2/2 of 4 devices
// is t-0003 (on the first broker) and t-0004 (on the second).
func TestSimulateShardOverTwoBrokers(t *testing.T) {
	t.Parallel()
	b1 := testbroker.Embedded(t, broker.Config{})
	b2 := testbroker.Embedded(t, broker.Config{})
	var ops []*upload.Client
	for _, b := range []*testbroker.Broker{b1, b2} {
		op, err := upload.Connect(context.Background(), upload.Options{Broker: b.URL})
		if err != nil {
			t.Fatal(err)
		}
		defer op.Close()
		ops = append(ops, op)
	}
	sys, _, errOut := fleetSystem(t, "", map[string]string{"XDG_CONFIG_HOME": t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- runMain(ctx, []string{"otactl", "simulate", "--connect", b1.URL + "," + b2.URL, "--devices", "4", "--shard", "2/2",
			"--id-prefix", "t-", "--ramp", "100/s"}, sys)
	}()
	simWait(t, code, errOut, cancel, func() bool { return len(simReports(t, ops[0]))+len(simReports(t, ops[1])) >= 2 })
	for i, want := range []string{"t-0003", "t-0004"} {
		got := simReports(t, ops[i])
		if _, ok := got[want]; !ok || len(got) != 1 {
			t.Errorf("broker %d holds reports of %v, want only %s", i+1, got, want)
		}
	}
	for _, want := range []string{"simulate: 2 devices (t-0003...)", "2 of 2 devices connected", "2 reports acknowledged, 0 failed; publish to PUBACK p50"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}

// simWait waits until the devices of a simulate run (its exit code on
// code) have reported, then stops it and checks that it exited 0.
func simWait(t *testing.T, code chan int, errOut fmt.Stringer, stop func(), reported func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !reported() {
		select {
		case c := <-code:
			t.Fatalf("simulate exited %d: %s", c, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("devices never reported: %s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if c := <-code; c != 0 {
		t.Fatalf("simulate exited %d: %s", c, errOut.String())
	}
}

// Two processes run one fleet (--shard 1/2, 2/2), each printing its own
// summary; simulate summary sums them up, from files or standard input.
func TestSimulateSummaryOfShards(t *testing.T) {
	t.Parallel()
	b := testbroker.Embedded(t, broker.Config{})
	dir := t.TempDir()
	shards := make([]*runningOtactl, 2)
	for i := range shards {
		shards[i] = startOtactlIn(t, dir, nil, nil, "simulate", "--broker", b.URL, "--devices", "5",
			"--shard", fmt.Sprintf("%d/2", i+1), "--for", "3s", "-o", "json")
	}
	var sums []simulator.Summary
	var streams []string
	for i, s := range shards {
		s.waitWithin(t, time.Minute)
		if s.code != 0 {
			t.Fatalf("shard %d: exit %d: %s", i+1, s.code, s.stderr.String())
		}
		got, err := simulator.ReadSummaries(strings.NewReader(s.stdout.String()), "shard")
		if err != nil || len(got) != 1 {
			t.Fatalf("shard %d: %v %v", i+1, got, err)
		}
		sums = append(sums, got[0])
		path := fmt.Sprintf("%s/shard%d.jsonl", dir, i+1)
		if err := os.WriteFile(path, []byte(s.stdout.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s.stdout.String())
	}
	res := runOtactl(t, dir, nil, "", "simulate", "summary", "shard1.jsonl", "shard2.jsonl", "-o", "json")
	var sum struct {
		Schema, Kind string
		simulator.Summary
	}
	if err := json.Unmarshal([]byte(res.stdout), &sum); res.code != 0 || err != nil {
		t.Fatalf("simulate summary: exit %d %v\n%s%s", res.code, err, res.stdout, res.stderr)
	}
	if sum.Schema != "otactl/simulate-summary/v1" || sum.Kind != "summary" || sum.Processes != 2 || sum.Devices != 5 || sum.Connected != 5 ||
		sum.Reports != sums[0].Reports+sums[1].Reports || sum.Reports < 5 || sum.ReportLatency.Max != max(sums[0].ReportLatency.Max, sums[1].ReportLatency.Max) {
		t.Errorf("summed up %+v\nfrom %+v", sum, sums)
	}
	// From standard input, in words.
	res = runOtactl(t, dir, nil, streams[0]+streams[1], "simulate", "summary")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "2 processes, 5 devices\n5 of 5 devices connected") {
		t.Errorf("from standard input: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// A shard missing, a shard given twice, a file without a summary:
	// each would make the sum wrong without a word, so each is exit 1.
	if err := os.WriteFile(dir+"/empty.jsonl", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		stdin, want string
		args        []string
	}{
		{"", "no summary of shard 2/2", []string{"shard1.jsonl"}},
		{streams[0], "shard 1/2 is there twice", []string{"shard1.jsonl", "shard2.jsonl", "-"}},
		{"", "no summary in empty.jsonl", []string{"shard1.jsonl", "empty.jsonl", "shard2.jsonl"}},
	} {
		res = runOtactl(t, dir, nil, tc.stdin, append([]string{"simulate", "summary"}, tc.args...)...)
		if res.code != ExitError || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("simulate summary %v: exit %d, want 1 saying %q\n%s", tc.args, res.code, tc.want, res.stderr)
		}
	}
	// No summary at all: exit 1, with a hint.
	res = runOtactl(t, dir, nil, "simulate: 5 devices\n", "simulate", "summary")
	if res.code != ExitError || !strings.Contains(res.stderr, "no summary in standard input") || !strings.Contains(res.stderr, "hint:") {
		t.Errorf("no summary: exit %d %s", res.code, res.stderr)
	}
}
