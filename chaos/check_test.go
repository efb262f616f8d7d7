package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/testbroker"
)

// manifest is what the suite reads of a desired manifest: enough to find
// and check its artifacts.
type manifest struct {
	SequenceNumber int64       `json:"sequenceNumber"`
	Components     []component `json:"components"`
}

type component struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Hash    string `json:"hash"`
	Size    int64  `json:"size"`
	URI     string `json:"uri"`
}

// topic is where the component is retained (the topic prefix is empty).
func (c component) topic() string { return strings.TrimPrefix(c.URI, "/") }

func (c component) String() string { return c.Package + "@" + c.Version }

// fleetTopic is the fleet's desired topic; deviceTopic a device's.
const fleetTopic = ".u/desired"

func deviceTopic(id string) string { return "devices/" + id + "/.u/desired" }

// readManifestFile reads a manifest that otactl wrote.
func readManifestFile(t *testing.T, path string) manifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// state is what a broker retains on the desired topics the suite looks at.
type state struct {
	manifests map[string]manifest // by desired topic; absent: nothing retained
	// problems break the first invariant: no desired manifest is retained
	// unless every artifact it names is retained complete, with its hash.
	problems []string
}

// seq is the sequence number retained on topic, 0 when none.
func (s state) seq(topic string) int64 { return s.manifests[topic].SequenceNumber }

// inspect reads the desired topics of the broker at addr and every artifact
// their manifests name, and checks each artifact's size and SHA-256. An
// error is a broker that could not be read at all.
func inspect(addr string, topics ...string) (state, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := state{manifests: map[string]manifest{}}
	got, err := readRetained(ctx, addr, topics...)
	if err != nil {
		return s, err
	}
	want := map[string][]string{} // artifact topic -> the manifests naming it
	comps := map[string]component{}
	for _, topic := range topics {
		payload, ok := got[topic]
		if !ok {
			continue
		}
		var m manifest
		if err := json.Unmarshal(payload, &m); err != nil || m.SequenceNumber <= 0 {
			s.problems = append(s.problems, fmt.Sprintf("%s retains %d bytes that are not a manifest", topic, len(payload)))
			continue
		}
		s.manifests[topic] = m
		for _, c := range m.Components {
			key := c.topic() + " " + c.Hash
			want[key] = append(want[key], fmt.Sprintf("%s (sequence %d)", topic, m.SequenceNumber))
			comps[key] = c
		}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := comps[k]
		if p := checkArtifact(ctx, addr, c); p != "" {
			s.problems = append(s.problems, fmt.Sprintf("desired manifest on %s names %s, but %s", strings.Join(want[k], ", "), c, p))
		}
	}
	return s, nil
}

// checkArtifact reads c's topic and says what is wrong with it, or "".
func checkArtifact(ctx context.Context, addr string, c component) string {
	size, sum, found, err := digestRetained(ctx, addr, c.topic())
	switch {
	case err != nil:
		return "it could not be read: " + err.Error()
	case !found:
		return c.topic() + " retains nothing"
	case size != c.Size || sum != c.Hash:
		return fmt.Sprintf("%s retains %d bytes with sha256 %.12s, not %d bytes with sha256 %.12s", c.topic(), size, sum, c.Size, c.Hash)
	}
	return ""
}

// expectRelease checks that topic retains m's sequence or a higher one,
// with m's artifacts complete, and says what is wrong, or "".
func expectRelease(s state, topic string, m manifest) string {
	got, ok := s.manifests[topic]
	switch {
	case !ok:
		return fmt.Sprintf("%s retains no manifest, want sequence %d or higher", topic, m.SequenceNumber)
	case got.SequenceNumber < m.SequenceNumber:
		return fmt.Sprintf("%s retains sequence %d, want %d or higher", topic, got.SequenceNumber, m.SequenceNumber)
	}
	return ""
}

// faultCodes are the exit codes of a publish hit by a fault: 0 when it
// still finished (and then everything must be there), else 1 (error),
// 5 (timed out) or 6 (published, not confirmed). Never 3: nothing was
// tampered with, so "verification failed" would be untrue.
var faultCodes = []int{0, 1, 5, 6}

// exitProblems says what is wrong with how r ended: a hang, a crash, an
// exit code not in allowed, or a failure without a message.
func exitProblems(r result, allowed ...int) []string {
	var out []string
	switch {
	case r.hung:
		out = append(out, r.describe()+": a run must end by itself")
	case r.crashed():
		out = append(out, r.describe()+": crashed: "+firstLines(r.stderr, 3))
	default:
		ok := false
		for _, c := range allowed {
			ok = ok || r.code == c
		}
		if !ok {
			out = append(out, fmt.Sprintf("%s, want one of %v: %q", r.describe(), allowed, errorLine(r.stderr)))
		} else if r.code != 0 && strings.TrimSpace(r.stderr) == "" {
			out = append(out, r.describe()+" without a message on stderr")
		}
	}
	return out
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

// tally counts a scenario's runs and failures on one broker, reports each
// failing run (the first few in full), and logs the figures as a
// CHAOS-RESULT line that scripts/chaos turns into a table.
type tally struct {
	t        *testing.T
	scenario string
	broker   string
	runs     int
	failures int
}

func newTally(t *testing.T, scenario, broker string) *tally {
	ta := &tally{t: t, scenario: scenario, broker: broker}
	t.Cleanup(func() {
		t.Logf("CHAOS-RESULT scenario=%q broker=%s runs=%d failures=%d", ta.scenario, ta.broker, ta.runs, ta.failures)
	})
	return ta
}

// onEachBroker runs a scenario on each kind of broker at once, each in a
// subtest named after the kind, with a random source and a tally of its
// own.
func onEachBroker(t *testing.T, scenario string, run func(t *testing.T, kind string, rng *rand.Rand, ta *tally)) {
	for _, kind := range testbroker.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel() // the two brokers at once: most of a run is waiting
			rng := newRand(t)
			run(t, kind, rng, newTally(t, scenario, kind))
		})
	}
}

// maxReported is how many failing runs of a scenario are reported in full;
// the others get one line each.
const maxReported = 5

// each does n runs, one after the other, each a subtest (run000, ...) so
// that its brokers, files and folders are gone before the next starts.
// run returns what the run did and the invariants it broke (none: it
// passed).
func (ta *tally) each(n int, run func(t *testing.T, i int) (what string, problems []string)) {
	for i := range n {
		ta.t.Run(fmt.Sprintf("run%03d", i), func(t *testing.T) {
			ta.runs++
			ended := false
			defer func() {
				if !ended { // a t.Fatal in the run (a broker that would not start): a failure too
					ta.failures++
				}
			}()
			what, problems := run(t, i)
			ended = true
			if len(problems) == 0 {
				return
			}
			ta.failures++
			if ta.failures <= maxReported {
				t.Errorf("%s:\n\t%s", what, strings.Join(problems, "\n\t"))
			} else {
				t.Errorf("%s: %s (and %d more)", what, problems[0], len(problems)-1)
			}
		})
	}
}

// The referee's own tests: each check the scenarios rely on must be able
// to fail, and fails here on a broker state or a run made to break it.

// TestRefereeInspect retains a manifest and, one after the other, no
// artifact, a short one, one with a byte changed and the right one, and
// checks that inspect reports exactly the broken ones.
func TestRefereeInspect(t *testing.T) {
	b := startBroker(t, testbroker.KindEmbedded, false, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := bytes.Repeat([]byte("firmware"), 256<<10) // 2 MiB
	man := fmt.Sprintf(`{"sequenceNumber":5,"hash":"x","components":[{"package":"main","version":"1.0.0","hash":"%s","size":%d,"uri":"/.u/c/main@1.0.0"}]}`,
		sha256Hex(data), len(data))
	put := func(topic string, payload []byte) {
		t.Helper()
		if err := publishRetained(ctx, b.Addr(), topic, payload); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want string) {
		t.Helper()
		s, err := inspect(b.Addr(), fleetTopic)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(s.problems, "; ")
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Fatalf("inspect found %q, want %q", got, want)
		}
		if want == "" && s.seq(fleetTopic) != 5 {
			t.Fatalf("inspect read sequence %d, want 5", s.seq(fleetTopic))
		}
	}

	put(fleetTopic, []byte(man))
	expect(".u/c/main@1.0.0 retains nothing")
	put(".u/c/main@1.0.0", data[:len(data)-1])
	expect(fmt.Sprintf("retains %d bytes", len(data)-1))
	changed := bytes.Clone(data)
	changed[len(changed)/2] ^= 1
	put(".u/c/main@1.0.0", changed)
	expect(fmt.Sprintf("retains %d bytes with sha256 %.12s", len(data), sha256Hex(changed)))
	put(".u/c/main@1.0.0", data)
	expect("")
	put(fleetTopic, []byte("not json"))
	expect(".u/desired retains 8 bytes that are not a manifest")
}

// TestRefereeConfirmedLost runs the durability check of TestBrokerKilled on
// a broker that keeps nothing (no --data): what a publish confirmed is gone
// after the restart, and the check must say so.
func TestRefereeConfirmedLost(t *testing.T) {
	dir := t.TempDir()
	envv := env(t)
	art := writeRandom(t, newRand(t), dir, "main.bin", 64<<10)
	man, m := createRelease(t, envv, dir, "release.json", 100, "main@1.0.0="+art)
	b := startBroker(t, testbroker.KindEmbedded, false, "")
	r := mustOtactl(t, envv, "release", "publish", man, art, "--broker", brokerURL(b))
	b.Kill()
	b.Start()
	s, err := inspect(b.Addr(), fleetTopic)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(confirmedLost(b, s, r, m), "; ")
	for _, want := range []string{"the killed publish exited 0, but .u/desired retains no manifest", "reported main@1.0.0 uploaded, but .u/c/main@1.0.0 retains nothing"} {
		if !strings.Contains(got, want) {
			t.Errorf("confirmedLost said %q, want %q", got, want)
		}
	}
}

// TestRefereeExitProblems checks the verdicts on how runs end.
func TestRefereeExitProblems(t *testing.T) {
	for _, tc := range []struct {
		r    result
		want string // "" for no problem
	}{
		{result{code: 0}, ""},
		{result{code: 1, stderr: "connect to mqtt://x: refused\n"}, ""},
		{result{code: 1}, "without a message"},
		{result{code: 3, stderr: "verification failed: nothing retained\nhint: run again\n"}, `want one of [0 1]: "verification failed: nothing retained"`},
		{result{code: -1, hung: true}, "a run must end by itself"},
		{result{code: -1, signal: "interrupt"}, "killed by interrupt"},
		{result{code: 2, stderr: "panic: boom\n\ngoroutine 1 [running]:\n"}, "crashed: panic: boom"},
	} {
		got := strings.Join(exitProblems(tc.r, 0, 1), "; ")
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("exitProblems(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestRefereeOutputFolder checks the verdicts on what an interrupted write
// leaves behind.
func TestRefereeOutputFolder(t *testing.T) {
	data := []byte("complete")
	want := component{Size: int64(len(data)), Hash: sha256Hex(data)}
	for _, tc := range []struct {
		name  string
		r     result
		files map[string]string
		want  string
	}{
		{"complete", result{code: 0}, map[string]string{"out.bin": "complete"}, ""},
		{"interrupted, nothing left", result{code: 130}, nil, ""},
		{"temporary file left", result{code: 130}, map[string]string{".out.bin.tmp-1": "comp"}, `exit 130 after 0s left [".out.bin.tmp-1"]`},
		{"partial file left", result{code: 130}, map[string]string{"out.bin": "comp"}, `left ["out.bin"]`},
		{"exit 0, short", result{code: 0}, map[string]string{"out.bin": "comp"}, "holds 4 bytes"},
		{"exit 0, temporary file too", result{code: 0}, map[string]string{"out.bin": "complete", ".out.bin.tmp-1": ""}, "want only out.bin"},
		{"exit 0, nothing", result{code: 0}, nil, "exit 0 but open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := strings.Join(outputProblems(tc.r, filepath.Join(dir, "out.bin"), want), "; ")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("outputProblems = %q, want %q", got, tc.want)
			}
		})
	}
}
