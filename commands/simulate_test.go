package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
