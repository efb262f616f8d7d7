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
