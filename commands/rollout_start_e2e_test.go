package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/rollout"
	"github.com/otactl/otactl/upload"
)

// These tests run 'rollout start', the built binary, against the
// embedded broker and mosquitto, with fleets of 'otactl simulate'
// devices, as issue 12 asks: a healthy fleet through 10%,50%,100%; a
// fleet failing its integrity checks halted at the first stage, with
// halt and with rollback; a run killed after its first stage and run
// again; two runs racing for one fleet.

// rolloutFleet is a simulated fleet under a prefix of its own, on
// release 1.0.0 (sequence 100, published and in the catalog), with
// releases to roll out made in dir.
type rolloutFleet struct {
	b        *testbroker.Broker
	prefix   string
	dir      string
	env      []string
	devices  int
	op       *upload.Client
	releases map[string][2]string // version -> manifest, file
}

func newRolloutFleet(t *testing.T, b *testbroker.Broker, prefix string, devices int, simArgs ...string) *rolloutFleet {
	t.Helper()
	f := &rolloutFleet{b: b, prefix: prefix, dir: t.TempDir(), devices: devices, releases: map[string][2]string{}}
	f.env = []string{"OTACTL_BROKER=" + b.URL, "OTACTL_TOPIC_PREFIX=" + prefix}
	background(t, f.env, append([]string{"simulate", "--devices", fmt.Sprint(devices), "--id-prefix", strings.Trim(prefix, "/") + "-", "--reboot-time", "50ms"}, simArgs...)...)
	op, err := upload.Connect(context.Background(), upload.Options{Broker: b.URL, TopicPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	f.op = op
	waitFor(t, "every simulated device's first report", func() bool { return len(simReports(t, op)) == devices })
	f.release(t, "1.0.0", 100)
	if res := runOtactl(t, f.dir, f.env, "", "release", "publish", f.releases["1.0.0"][0], f.releases["1.0.0"][1]); res.code != 0 {
		t.Fatalf("release publish 1.0.0: exit %d\n%s", res.code, res.stderr)
	}
	return f
}

// release makes main@version as sequence seq.
func (f *rolloutFleet) release(t *testing.T, version string, seq int) {
	t.Helper()
	m, c := testRelease(t, f.dir, version, seq, 4000)
	f.releases[version] = [2]string{m, c}
}

// start runs rollout start of version's release with args, -o json.
func (f *rolloutFleet) start(t *testing.T, version string, args ...string) *runningOtactl {
	t.Helper()
	r := f.releases[version]
	return startOtactlIn(t, f.dir, f.env, nil, append([]string{"rollout", "start", r[0], r[1], "--timeout", "90s", "-o", "json"}, args...)...)
}

// desired is the manifest retained on a desired topic (nil: none).
func (f *rolloutFleet) desired(t *testing.T, topic string) *release.Manifest {
	t.Helper()
	m, _, _, err := publish.ReadManifest(context.Background(), f.op, topic)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stageDevices are the devices pct percent chooses.
func (f *rolloutFleet) stageDevices(pct float64) []string {
	var out []string
	for i := 1; i <= f.devices; i++ {
		id := fmt.Sprintf("%s-%04d", strings.Trim(f.prefix, "/"), i)
		if publish.PercentChosen(id, pct) {
			out = append(out, id)
		}
	}
	return out
}

// rolloutEvents decodes a -o json stream.
func rolloutEvents(t *testing.T, out string) []rollout.Event {
	t.Helper()
	var evs []rollout.Event
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e rollout.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON event: %q", line)
		}
		evs = append(evs, e)
	}
	return evs
}

func kinds(evs []rollout.Event) string {
	var k []string
	for _, e := range evs {
		if e.Kind != rollout.EventGate {
			k = append(k, fmt.Sprintf("%s:%d", e.Kind, e.Stage))
		}
	}
	return strings.Join(k, " ")
}

func TestRolloutStartE2E(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		t.Run("healthy, killed, raced", func(t *testing.T) {
			t.Parallel()
			f := newRolloutFleet(t, b, "ok/", 40)
			f.release(t, "1.1.0", 200)
			res := f.start(t, "1.1.0", "--steps", "10%,50%,100%").waitWithin(t, 2*time.Minute)
			evs := rolloutEvents(t, res.stdout)
			want := "started:0 stage-started:1 published:1 gate-passed:1 stage-started:2 published:2 gate-passed:2 stage-started:3 published:3 gate-passed:3 done:0"
			if res.code != 0 || kinds(evs) != want {
				t.Fatalf("exit %d, events %s\n%s", res.code, kinds(evs), res.stderr)
			}
			if last := evs[len(evs)-2]; last.Gate.Updated != 40 || evs[2].Targets != len(f.stageDevices(10)) {
				t.Errorf("fleet gate %+v; stage 1 targets %d, want %d", last.Gate, evs[2].Targets, len(f.stageDevices(10)))
			}
			if m := f.desired(t, f.op.Topics().Fleet()); m == nil || m.SequenceNumber != 200 {
				t.Errorf("fleet desired %+v", m)
			}

			// Killed after its first stage, and run again: it resumes at
			// stage 2 and never publishes stage 1 again.
			f.release(t, "1.2.0", 300)
			run := f.start(t, "1.2.0", "--steps", "10%,50%,100%", "--lock-lease", "2s")
			waitFor(t, "stage 1's gate", func() bool {
				return strings.Contains(run.stdout.String(), `"event":"stage-started","time"`) && strings.Contains(run.stdout.String(), `"stage":2`)
			})
			_ = run.cmd.Process.Kill()
			<-run.done
			time.Sleep(2500 * time.Millisecond) // the dead run's lease
			res = f.start(t, "1.2.0", "--steps", "10%,50%,100%").waitWithin(t, 2*time.Minute)
			evs = rolloutEvents(t, res.stdout)
			if res.code != 0 || !strings.HasPrefix(kinds(evs), "resumed:2 stage-started:2") || strings.Contains(kinds(evs), ":1") {
				t.Fatalf("rerun: exit %d, events %s\n%s", res.code, kinds(evs), res.stderr)
			}

			// Two runs at once: one wins, the other is refused (exit 3)
			// naming the holder.
			f.release(t, "1.3.0", 400)
			a := f.start(t, "1.3.0", "--steps", "50%,100%")
			c := f.start(t, "1.3.0", "--steps", "50%,100%")
			ra, rc := a.waitWithin(t, 2*time.Minute), c.waitWithin(t, 2*time.Minute)
			if ra.code+rc.code != ExitVerification || (ra.code != 0 && rc.code != 0) {
				t.Fatalf("racing runs exited %d and %d\n%s\n%s", ra.code, rc.code, ra.stderr, rc.stderr)
			}
			loser := ra
			if ra.code == 0 {
				loser = rc
			}
			if !strings.Contains(loser.stderr, "another 'rollout start' holds the rollout lock: ") || !strings.Contains(loser.stderr, "@") {
				t.Errorf("the loser says:\n%s", loser.stderr)
			}
		})
		for _, policy := range []string{rollout.OnFailureHalt, rollout.OnFailureRollback, rollout.OnFailurePause} {
			t.Run("integrity failures, "+policy, func(t *testing.T) {
				t.Parallel()
				f := newRolloutFleet(t, b, policy+"/", 20, "--fail", "integrity=100%")
				f.release(t, "1.1.0", 200)
				if len(f.stageDevices(20)) == 0 {
					t.Fatal("no device in the first stage")
				}
				// In GitHub Actions: a group per stage, annotations, a summary.
				summary := t.TempDir() + "/summary.md"
				gh := []string{"GITHUB_ACTIONS=true", "GITHUB_STEP_SUMMARY=" + summary, "GITHUB_ACTOR=octo", "GITHUB_REPOSITORY=acme/fw", "GITHUB_RUN_ID=42"}
				r := f.releases["1.1.0"]
				res := startOtactlIn(t, f.dir, append(f.env, gh...), nil, "rollout", "start", r[0], r[1], "--timeout", "90s", "-o", "json",
					"--steps", "20%,50%,100%", "--on-failure", policy).waitWithin(t, 2*time.Minute)
				evs := rolloutEvents(t, res.stdout)
				want := map[string]string{"halt": "restored:1", "rollback": "restored:1", "pause": "paused:1"}[policy]
				if res.code != ExitRolloutFail || kinds(evs) != "started:0 stage-started:1 published:1 gate-failed:1 "+want {
					t.Fatalf("exit %d, events %s\n%s", res.code, kinds(evs), res.stderr)
				}
				if m := f.desired(t, f.op.Topics().Fleet()); m.SequenceNumber != 100 {
					t.Errorf("the fleet's desired topic has sequence %d", m.SequenceNumber)
				}
				// halt and rollback give the stage's devices release 1.0.0
				// back (none updated); pause leaves them 1.1.0.
				for _, d := range f.stageDevices(20) {
					topic, _ := f.op.Topics().Device(d)
					m := f.desired(t, topic)
					switch {
					case m == nil:
						t.Errorf("device %s has no desired manifest", d)
					case policy == rollout.OnFailurePause && (m.SequenceNumber != 200 || m.Components[0].Version != "1.1.0"):
						t.Errorf("device %s desired %+v, want release 200 kept", d, m)
					case policy != rollout.OnFailurePause && (m.Components[0].Version != "1.0.0" || m.SequenceNumber <= 200):
						t.Errorf("device %s desired %+v, want 1.0.0 above sequence 200", d, m)
					}
				}
				md := mustRead(t, summary)
				if !strings.Contains(res.stderr, "::group::stage 1/3 20%25\n") || !strings.Contains(res.stderr, "::error title=rollout stage 1/3 20%25 failed::") ||
					!strings.Contains(res.stderr, "::endgroup::") || !strings.Contains(md, "| 1/3 | 20% | gate-failed |") {
					t.Errorf("GitHub Actions output:\n%s\nsummary:\n%s", res.stderr, md)
				}
				status := map[string]string{"halt": "halted", "rollback": "rolled-back", "pause": "paused"}[policy]
				st := runOtactl(t, f.dir, f.env, "", "rollout", "status")
				if !strings.Contains(st.stderr, "steps 20%,50%,100%: "+status+", stage 1 of 3, started by octo (github acme/fw run 42)") {
					t.Errorf("rollout status:\n%s", st.stderr)
				}
				// Run again: refused, exit 3.
				if again := f.start(t, "1.1.0", "--steps", "20%,50%,100%", "--on-failure", policy).waitWithin(t, time.Minute); again.code != ExitVerification {
					t.Errorf("started again: exit %d\n%s", again.code, again.stderr)
				}
				if policy != rollout.OnFailurePause {
					return
				}
				// A paused rollout resumes without its manifest (read back
				// from where stage 1 published it), and fails again; abort
				// ends it.
				res = runOtactl(t, f.dir, f.env, "", "rollout", "resume", "--timeout", "60s", "-o", "json")
				if evs := rolloutEvents(t, res.stdout); res.code != ExitRolloutFail || !strings.HasPrefix(kinds(evs), "resumed:1 stage-started:1 published:1 gate-failed:1") {
					t.Errorf("resume: exit %d, events %s\n%s", res.code, kinds(evs), res.stderr)
				}
				if res := runOtactl(t, f.dir, f.env, "", "rollout", "abort"); res.code != 0 || !strings.Contains(res.stdout, "steps 20%,50%,100%: aborted, stage 1 of 3") {
					t.Errorf("abort: exit %d\n%s%s", res.code, res.stdout, res.stderr)
				}
				if res := runOtactl(t, f.dir, f.env, "", "rollout", "abort"); res.code != ExitError {
					t.Errorf("abort with no rollout: exit %d\n%s", res.code, res.stderr)
				}
			})
		}
	})
}

// TestRolloutThroughABridge: simulated devices on a mosquitto edge bridged
// to a central one, the rollout run on the central broker with the edge
// listed (OTACTL_VERIFY_BROKERS). Each stage is confirmed on the edge.
// With the bridge cut, a new release's first stage fails on the edge's
// artifact (exit 3) before any desired manifest of it is visible on
// either broker; with the artifact on the edge and the bridge cut again,
// the stage goes out on the central broker only: exit 6, the rollout
// paused, and 'rollout resume' once the bridge is back finishes it.
func TestRolloutThroughABridge(t *testing.T) {
	t.Parallel()
	br := testbroker.MosquittoBridge(t, testbroker.BridgeConfig{})
	central, edge := br.Central.URL, br.Edge.URL
	dir := t.TempDir()
	env := []string{"OTACTL_BROKER=" + central, "OTACTL_VERIFY_BROKERS=" + edge}
	const devices = 6
	background(t, []string{"OTACTL_BROKER=" + edge}, "simulate", "--devices", fmt.Sprint(devices), "--id-prefix", "br-", "--reboot-time", "50ms")
	op, err := upload.Connect(context.Background(), upload.Options{Broker: central})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	waitFor(t, "every device's report on the central broker", func() bool { return len(simReports(t, op)) == devices })
	var stage1 []string
	for i := 1; i <= devices; i++ {
		if id := fmt.Sprintf("br-%04d", i); publish.PercentChosen(id, 50) {
			stage1 = append(stage1, id)
		}
	}
	if len(stage1) == 0 {
		t.Fatal("no device in the 50% stage")
	}
	run := func(args ...string) result {
		t.Helper()
		return runWithin(t, 90*time.Second, dir, env, "", append(args, "--read-back-wait", "1s", "-o", "json")...)
	}
	m1, c1 := testRelease(t, dir, "1.0.0", 100, 4000)
	if res := runOtactl(t, dir, env, "", "release", "publish", m1, c1); res.code != 0 {
		t.Fatalf("release publish 1.0.0: exit %d\n%s", res.code, res.stderr)
	}

	m2, c2 := testRelease(t, dir, "1.1.0", 200, 4000)
	res := run("rollout", "start", m2, c2, "--steps", "50%,100%", "--timeout", "60s")
	evs := rolloutEvents(t, res.stdout)
	if res.code != 0 || kinds(evs) != "started:0 stage-started:1 published:1 gate-passed:1 stage-started:2 published:2 gate-passed:2 done:0" {
		t.Fatalf("exit %d, events %s\n%s", res.code, kinds(evs), res.stderr)
	}
	for _, e := range evs {
		if e.Kind == rollout.EventPublished && (len(e.Endpoints) != 2 || e.Endpoints[0].URL != central || e.Endpoints[1].URL != edge || !e.Endpoints[1].Confirmed) {
			t.Errorf("stage %d published, endpoints %+v", e.Stage, e.Endpoints)
		}
	}
	if seq := retainedSeq(t, edge, ".u/desired"); seq != 200 {
		t.Errorf("the edge's fleet topic retains sequence %d", seq)
	}

	// The bridge cut, a new artifact: exit 3, nothing of 300 anywhere.
	br.Cut()
	m3, c3 := testRelease(t, dir, "1.2.0", 300, 4000)
	res = run("rollout", "start", m3, c3, "--steps", "50%,100%", "--timeout", "60s")
	if res.code != ExitVerification || !strings.Contains(res.stderr, "endpoint "+edge+": artifact main@1.2.0") || !strings.Contains(res.stderr, "nothing was published") {
		t.Fatalf("bridge cut: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, url := range []string{central, edge} {
		for _, topic := range append([]string{".u/desired"}, "devices/"+stage1[0]+"/.u/desired") {
			if seq := retainedSeq(t, url, topic); seq != 200 {
				t.Errorf("bridge cut: %s retains sequence %d on %s", url, seq, topic)
			}
		}
	}

	// The artifact reaches the edge, then the bridge is cut again: the
	// stage is published on the central broker only.
	br.Restore(t)
	waitFor(t, "the artifact on the edge", func() bool { _, found := pubRetained(t, pubDial(t, edge), ".u/c/main@1.2.0"); return found })
	br.Cut()
	res = run("rollout", "start", m3, c3, "--steps", "50%,100%", "--timeout", "60s")
	evs = rolloutEvents(t, res.stdout)
	last := evs[len(evs)-1]
	if res.code != ExitPartial || !strings.HasSuffix(kinds(evs), "stage-started:1 paused:1") || len(last.Endpoints) != 2 || last.Endpoints[1].Confirmed ||
		!strings.Contains(res.stderr, "not confirmed on every endpoint: endpoint "+edge) || !strings.Contains(res.stderr, "rollout resume") {
		t.Fatalf("stage not confirmed: exit %d, events %s\n%s%s", res.code, kinds(evs), res.stdout, res.stderr)
	}
	if seq := retainedSeq(t, central, "devices/"+stage1[0]+"/.u/desired"); seq != 300 {
		t.Errorf("the central broker retains sequence %d for %s", seq, stage1[0])
	}
	if st := runOtactl(t, dir, env, "", "rollout", "status"); !strings.Contains(st.stderr, "steps 50%,100%: paused, stage 1 of 2") {
		t.Errorf("rollout status:\n%s%s", st.stdout, st.stderr)
	}

	br.Restore(t)
	res = run("rollout", "resume", "--timeout", "60s")
	if evs = rolloutEvents(t, res.stdout); res.code != 0 || !strings.HasPrefix(kinds(evs), "resumed:1 stage-started:1 published:1") || !strings.HasSuffix(kinds(evs), "done:0") {
		t.Fatalf("resume: exit %d, events %s\n%s", res.code, kinds(evs), res.stderr)
	}
	if seq := retainedSeq(t, edge, ".u/desired"); seq != 300 {
		t.Errorf("after resume the edge's fleet topic retains sequence %d", seq)
	}
}

// TestRollbackThroughABridge: release rollback through a central
// mosquitto with a bridged edge listed. Its new sequence is above what
// either retains (a manifest only the edge has), and both retain it; with
// the bridge cut it goes out on the central broker only: exit 6, and -o
// json says the edge did not confirm it.
func TestRollbackThroughABridge(t *testing.T) {
	t.Parallel()
	br := testbroker.MosquittoBridge(t, testbroker.BridgeConfig{})
	central, edge := br.Central.URL, br.Edge.URL
	e := newPubEnv(t)
	verify := []string{"--broker", central, "--verify-broker", edge, "--read-back-wait", "1s"}
	fw1, fw2 := e.file("fw1.bin", pubRandom(4096)), e.file("fw2.bin", pubRandom(4096))
	e.must(0, append([]string{"release", "publish", e.manifest("r1.json", 100, "", "main@1.0.0="+fw1), fw1, "--device", "d1"}, verify...)...)
	e.must(0, append([]string{"release", "publish", e.manifest("r2.json", 200, "", "main@2.0.0="+fw2), fw2, "--device", "d1"}, verify...)...)
	// The edge alone retains a high sequence for d2 (the bridge carries
	// desired manifests in only).
	fw9 := e.file("fw9.bin", pubRandom(1024))
	e.must(0, "release", "publish", e.manifest("r9.json", 3_000_000_000, "", "main@9.0.0="+fw9), fw9, "--device", "d2", "--broker", edge)

	e.says([]string{"endpoint " + edge + ": desired manifest confirmed"},
		append([]string{"release", "rollback", "--to", "100", "--device", "d1", "--device", "d2"}, verify...)...)
	for _, d := range []string{"d1", "d2"} {
		c, ed := retainedSeq(t, central, "devices/"+d+"/.u/desired"), retainedSeq(t, edge, "devices/"+d+"/.u/desired")
		if c <= 3_000_000_000 || c != ed {
			t.Errorf("%s: central retains sequence %d, edge %d, want the same above 3000000000", d, c, ed)
		}
	}

	br.Cut()
	before := retainedSeq(t, edge, "devices/d1/.u/desired")
	out, errs, code := e.run("", append([]string{"release", "rollback", "--to", "200", "--device", "d1", "-o", "json"}, verify...)...)
	var rep struct {
		RollbackOf int64                    `json:"rollbackOf"`
		Endpoints  []publish.EndpointResult `json:"endpoints"`
	}
	if code != ExitPartial || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Endpoints) != 2 || !rep.Endpoints[0].Confirmed || rep.Endpoints[1].Confirmed ||
		!strings.Contains(errs, "not confirmed on every endpoint: endpoint "+edge) {
		t.Fatalf("bridge cut: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if seq := retainedSeq(t, edge, "devices/d1/.u/desired"); seq != before {
		t.Errorf("bridge cut: the edge retains sequence %d, had %d", seq, before)
	}
	if seq := retainedSeq(t, central, "devices/d1/.u/desired"); seq <= before {
		t.Errorf("bridge cut: the central broker retains sequence %d, not above %d", seq, before)
	}
}
