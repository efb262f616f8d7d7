package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/testbroker"
)

// TestBrokerKilled kills the broker (SIGKILL) at a random point of a 64 MiB
// `release publish`, starts it again on the same data and runs the publish
// again. After the kill and after the rerun no desired manifest may be
// retained without its complete artifact; on the embedded broker, whose
// retained store is durable, whatever the killed run confirmed (its exit 0,
// and each step it reported done) must survive the restart. mosquitto
// saves its retained messages periodically (autosave_interval), so what it
// acknowledged since its last save is lost on a kill: only the other
// invariants apply to it.
func TestBrokerKilled(t *testing.T) {
	dir := t.TempDir()
	envv := env(t)
	art := writeRandom(t, newRand(t), dir, "main.bin", 64<<20)
	man, m := createRelease(t, envv, dir, "release.json", 100, "main@1.0.0="+art)

	onEachBroker(t, "broker killed during a 64 MiB publish", func(t *testing.T, kind string, rng *rand.Rand, ta *tally) {
		durable := kind == testbroker.KindEmbedded

		// A clean publish first: it must work, and it says how long a
		// publish takes, the span the kill points are drawn from.
		b := startBroker(t, kind, true, "")
		r := runOtactl(t, envv, publishLimit, "release", "publish", man, art, "--broker", brokerURL(b), "--broker-timeout", "3s")
		if p := exitProblems(r, 0); len(p) > 0 {
			t.Fatalf("a clean publish failed: %s\n%s", strings.Join(p, "; "), r.stderr)
		}
		span := r.took * 11 / 10
		b.Stop()

		ta.each(runs(10, 100), func(t *testing.T, i int) (string, []string) {
			delay := randomBetween(rng, 0, span)
			return fmt.Sprintf("broker killed %s into the publish", delay.Round(time.Millisecond)),
				killRun(t, envv, kind, durable, man, art, m, delay)
		})
	})
}

// killRun is one run of TestBrokerKilled on a fresh broker, and returns
// the invariants it broke.
func killRun(t *testing.T, envv []string, kind string, durable bool, man, art string, m manifest, delay time.Duration) []string {
	b := startBroker(t, kind, true, "")
	defer b.Stop()
	publish := []string{"release", "publish", man, art, "--broker", brokerURL(b), "--broker-timeout", "3s"}

	p := startOtactl(t, envv, publish...)
	time.Sleep(delay) // the kill point: a random moment, not a synchronisation
	b.Kill()
	r := p.wait(publishLimit)
	problems := prefixed("killed publish: ", exitProblems(r, faultCodes...))

	b.Start()
	s, err := inspect(b.Addr(), fleetTopic)
	if err != nil {
		return append(problems, "after the restart: "+err.Error())
	}
	problems = append(problems, prefixed("after the restart: ", s.problems)...)
	if durable {
		problems = append(problems, prefixed("after the restart: ", confirmedLost(b, s, r, m))...)
	}

	rerun := runOtactl(t, envv, publishLimit, publish...)
	problems = append(problems, prefixed("rerun: ", exitProblems(rerun, 0))...)
	s, err = inspect(b.Addr(), fleetTopic)
	if err != nil {
		return append(problems, "after the rerun: "+err.Error())
	}
	problems = append(problems, prefixed("after the rerun: ", s.problems)...)
	if p := expectRelease(s, fleetTopic, m); p != "" {
		problems = append(problems, "after the rerun: "+p)
	}
	return problems
}

// confirmedLost checks that what run r of a publish of m to the fleet
// confirmed is retained: everything when it exited 0, and each artifact
// and target it reported done (otactl reports a step once the broker
// acknowledged it and it was read back).
func confirmedLost(b testBroker, s state, r result, m manifest) []string {
	var out []string
	if r.code == 0 && !r.hung {
		if p := expectRelease(s, fleetTopic, m); p != "" {
			out = append(out, "the killed publish exited 0, but "+p)
		}
	} else if strings.Contains(r.stdout, "target fleet: ") {
		if p := expectRelease(s, fleetTopic, m); p != "" {
			out = append(out, "the killed publish reported the fleet's manifest published, but "+p)
		}
	}
	for _, c := range m.Components {
		if !strings.Contains(r.stdout, "artifact "+c.String()+": ") {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		p := checkArtifact(ctx, b.Addr(), c)
		cancel()
		if p != "" {
			out = append(out, fmt.Sprintf("the killed publish reported %s uploaded, but %s", c, p))
		}
	}
	return out
}

func prefixed(prefix string, problems []string) []string {
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = prefix + p
	}
	return out
}
