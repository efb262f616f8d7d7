package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
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
