package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/upload"
)

// raceFixture is a broker with one artifact on it and manifests of one
// release at several sequence numbers, as files and as bytes.
type raceFixture struct {
	e      *pubEnv
	broker *testbroker.Broker
	client *upload.Client // the test's own connection
	files  map[int64]string
	bytes  map[int64][]byte
}

func newRaceFixture(t *testing.T, b *testbroker.Broker, seqs ...int64) *raceFixture {
	t.Helper()
	e := newPubEnvAt(t, b.URL)
	app := e.file("app.bin", pubRandom(2000))
	f := &raceFixture{e: e, broker: b, client: pubDial(t, b.URL), files: map[int64]string{}, bytes: map[int64][]byte{}}
	for _, seq := range seqs {
		path := e.manifest(fmt.Sprintf("r%d.json", seq), seq, "", "main@1.0.0="+app)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f.files[seq], f.bytes[seq] = path, data
	}
	e.must(0, "upload", "main@1.0.0", app)
	return f
}

// publish publishes the manifest of sequence seq to topic from the test's
// own connection, as another otactl would, and returns once the broker
// has delivered it to subscribers (the test's own subscription): the
// embedded broker acknowledges a publish before it delivers it, and a
// run can only see a concurrent publish the broker has delivered (see
// docs/publishing.md, "One order per topic").
func (f *raceFixture) publish(t *testing.T, topic string, seq int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := upload.Connect(ctx, upload.Options{Broker: f.broker.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := make(chan upload.Message, 16)
	if err := sub.Subscribe(ctx, []string{topic}, got); err != nil {
		t.Fatal(err)
	}
	if err := f.client.PublishRetained(ctx, topic, f.bytes[seq]); err != nil {
		t.Errorf("publish %d to %s: %v", seq, topic, err)
		return
	}
	for {
		select {
		case m := <-got:
			if !m.Retained && bytes.Equal(m.Payload, f.bytes[seq]) {
				return
			}
		case <-ctx.Done():
			t.Errorf("publish %d to %s: never delivered", seq, topic)
			return
		}
	}
}

// retained returns the sequence number retained on topic, 0 for none,
// and fails the test when the bytes are not one of the fixture's manifests.
func (f *raceFixture) retained(t *testing.T, topic string) int64 {
	t.Helper()
	got, found := pubRetained(t, f.client, topic)
	if !found {
		return 0
	}
	for seq, b := range f.bytes {
		if bytes.Equal(got, b) {
			return seq
		}
	}
	t.Fatalf("%s retains bytes that are none of the test's manifests: %.200q", topic, got)
	return 0
}

// hookOnce sets testHookBeforeDesired to run fn before the first desired
// publish to topic, once, until the test ends. The hook is package state:
// tests that set it do not run in parallel.
func hookOnce(t *testing.T, topic string, fn func()) {
	t.Helper()
	var once sync.Once
	testHookBeforeDesired = func(tp string) {
		if tp == topic {
			once.Do(fn)
		}
	}
	t.Cleanup(func() { testHookBeforeDesired = nil })
}

// TestPublishRestoresConcurrentHigher: a higher sequence lands on the
// target after this run's anti-rollback check and before its own publish.
// This run's lower manifest then replaces it: the run must put the higher
// one back and exit 3, never 0 with the lower one left.
func TestPublishRestoresConcurrentHigher(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		f := newRaceFixture(t, b, 1001, 1002)
		for _, tc := range []struct {
			name  string
			topic string
			args  []string
		}{
			{"device", "devices/d1/.u/desired", []string{"--device", "d1"}},
			{"fleet", ".u/desired", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				hookOnce(t, tc.topic, func() { f.publish(t, tc.topic, 1002) })
				args := append([]string{"release", "publish", f.files[1001]}, tc.args...)
				out, errs, code := f.e.run("", args...)
				if code != ExitVerification {
					t.Fatalf("exit %d, want %d (a higher sequence was published concurrently)\n%s%s", code, ExitVerification, out, errs)
				}
				if !strings.Contains(errs, "higher sequence 1002") || !strings.Contains(errs, tc.topic) {
					t.Errorf("stderr does not name the higher sequence and the topic:\n%s", errs)
				}
				if got := f.retained(t, tc.topic); got != 1002 {
					t.Errorf("%s retains sequence %d after the race, want 1002", tc.topic, got)
				}
			})
		}
	})
}

// TestPublishRefusesHigherSeenLive: a higher sequence that arrives on a
// target while the run is publishing to another one is an anti-rollback
// refusal for that target: nothing is published there. The release is
// live on the other target, so the run exits 6 (it was 3 before: a
// pipeline took that for "nothing was published").
func TestPublishRefusesHigherSeenLive(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		f := newRaceFixture(t, b, 1001, 1002)
		var seen []string
		var mu sync.Mutex
		// The first target's hook publishes to the second target and
		// gives the broker time to deliver it.
		testHookBeforeDesired = func(tp string) {
			mu.Lock()
			seen = append(seen, tp)
			first := len(seen) == 1
			mu.Unlock()
			if first {
				f.publish(t, "devices/b/.u/desired", 1002)
				time.Sleep(300 * time.Millisecond)
			}
		}
		t.Cleanup(func() { testHookBeforeDesired = nil })
		out, errs, code := f.e.run("", "release", "publish", f.files[1001], "--device", "a", "--device", "b")
		if code != ExitPartial {
			t.Fatalf("exit %d, want %d\n%s%s", code, ExitPartial, out, errs)
		}
		if !strings.Contains(errs, "anti-rollback") || !strings.Contains(errs, "1002") {
			t.Errorf("stderr: %s", errs)
		}
		if got := f.retained(t, "devices/b/.u/desired"); got != 1002 {
			t.Errorf("device b retains %d, want 1002", got)
		}
		if got := f.retained(t, "devices/a/.u/desired"); got != 1001 {
			t.Errorf("device a retains %d, want 1001", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 1 {
			t.Errorf("published to %v; want device a only", seen)
		}
	})
}

// TestRollbackRestoresConcurrentHigher: release rollback publishes a
// manifest too, and races the same way.
func TestRollbackRestoresConcurrentHigher(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		f := newRaceFixture(t, b, 1001, 3000)
		f.e.must(0, "release", "publish", f.files[1001], "--cohort", "beta")
		topic := "devices/r1/.u/desired"
		hookOnce(t, topic, func() { f.publish(t, topic, 3000) })
		out, errs, code := f.e.run("", "release", "rollback", "--to", "1001", "--sequence", "2000", "--device", "r1")
		if code != ExitVerification {
			t.Fatalf("exit %d, want %d\n%s%s", code, ExitVerification, out, errs)
		}
		if !strings.Contains(errs, "higher sequence 3000") {
			t.Errorf("stderr: %s", errs)
		}
		if got := f.retained(t, topic); got != 3000 {
			t.Errorf("%s retains %d after the race, want 3000", topic, got)
		}
	})
}

// TestPublishRaceBinary runs two 'otactl release publish' processes at
// once to one target, sequences N and N+1, many times, on both brokers.
// After both exit the target must retain N+1; N+1 always exits 0; N exits
// 0 (it finished before N+1 was published) or 3 (anti-rollback: refused,
// or superseded and restored), never anything else. A test-only delay
// between each run's anti-rollback check and its publish, random per run,
// makes the two overlap in every way they can.
func TestPublishRaceBinary(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		f := newRaceFixture(t, b, 1001, 1002)
		for _, tc := range []struct {
			name   string
			trials int
			topic  func(i int) string
			args   func(i int) []string
		}{
			{"device", 20, func(i int) string { return fmt.Sprintf("devices/race-%d/.u/desired", i) },
				func(i int) []string { return []string{"--device", fmt.Sprintf("race-%d", i)} }},
			{"fleet", 10, func(int) string { return ".u/desired" }, func(int) []string { return nil }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// How the lower run lost: refused by what was retained
				// or seen live before its publish, or overtaken after
				// it, with or without putting the higher one back.
				refused, live, superseded, restored := 0, 0, 0, 0
				for i := range tc.trials {
					topic := tc.topic(i)
					if err := f.client.Clear(context.Background(), topic); err != nil {
						t.Fatal(err)
					}
					runs := map[int64]*runningOtactl{}
					for _, seq := range []int64{1001, 1002} {
						env := []string{"OTACTL_BROKER=" + b.URL, fmt.Sprintf("%s=%dms", testDelayEnv, rand.IntN(250))}
						args := append([]string{"release", "publish", f.files[seq], "-o", "json"}, tc.args(i)...)
						runs[seq] = startOtactlIn(t, f.e.dir, env, nil, args...)
					}
					for _, r := range runs {
						r.wait(t)
					}
					lo, hi := runs[1001], runs[1002]
					if hi.code != 0 {
						t.Fatalf("trial %d: the higher sequence exited %d, want 0\n%s%s", i, hi.code, hi.stdout.String(), hi.stderr.String())
					}
					switch lo.code {
					case 0:
						var rep publish.Report
						if err := json.Unmarshal([]byte(lo.stdout.String()), &rep); err != nil || len(rep.Targets) != 1 || rep.Targets[0].Topic != topic {
							t.Fatalf("trial %d: the lower run's report: %v\n%s", i, err, lo.stdout.String())
						}
					case ExitVerification:
						refused++
						switch errs := lo.stderr.String(); {
						case strings.Contains(errs, "put back"):
							restored++
						case strings.Contains(errs, "was published to"):
							superseded++
						case strings.Contains(errs, "was sent sequence"):
							live++
						}
						if !strings.Contains(lo.stderr.String(), "anti-rollback") {
							t.Errorf("trial %d: the lower run exited 3 without saying why: %s", i, lo.stderr.String())
						}
					default:
						t.Fatalf("trial %d: the lower sequence exited %d\n%s", i, lo.code, lo.stderr.String())
					}
					if got := f.retained(t, topic); got != 1002 {
						t.Fatalf("trial %d: %s retains sequence %d after both runs ended (lower run exit %d, higher %d), want 1002\nlower: %s\nhigher: %s",
							i, topic, got, lo.code, hi.code, lo.stderr.String(), hi.stderr.String())
					}
				}
				t.Logf("%d trials: the lower run exited 0 in %d, 3 in %d (refused on a live message %d, overtaken %d, restored the higher %d)",
					tc.trials, tc.trials-refused, refused, live, superseded, restored)
			})
		}
	})
}
