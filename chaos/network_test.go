package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/tcpproxy"
)

// netTimeout is the --timeout of publishes over the bad network: short, so
// that stalls end quickly.
const netTimeout = 2 * time.Second

// TestBadNetwork publishes through a proxy that cuts every connection, or
// stalls (stops forwarding, connections left open) for longer than the
// timeouts, once a random number of bytes has gone one way. Each run must
// end by itself within what the documented time limits allow, exit 0 only
// when the release is retained complete, else 1, 5 or 6 with a message,
// and never leave a desired manifest without its artifact.
func TestBadNetwork(t *testing.T) {
	dir := t.TempDir()
	envv := env(t)
	rng := newRand(t)
	// A small artifact goes through otactl's paho connection, a large one
	// through its streaming connection.
	type rel struct {
		art, man string
		m        manifest
		size     int
	}
	var rels []rel
	for _, size := range []int{256 << 10, 1536 << 10} {
		name := fmt.Sprintf("main-%d", size)
		art := writeRandom(t, rng, dir, name+".bin", size)
		man, m := createRelease(t, envv, dir, name+".json", 100, "main@1.0.0="+art)
		rels = append(rels, rel{art, man, m, size})
	}

	onEachBroker(t, "connections cut or stalled during a publish", func(t *testing.T, kind string, rng *rand.Rand, ta *tally) {
		// How many bytes a clean publish sends each way: the span the
		// fault points are drawn from.
		var span []map[bool]int64
		for _, r := range rels {
			b := startBroker(t, kind, false, "")
			p := tcpproxy.Start(t, b.Addr())
			res := runOtactl(t, envv, publishLimit, "release", "publish", r.man, r.art, "--broker", p.URL(), "--broker-timeout", netTimeout.String())
			if probs := exitProblems(res, 0); len(probs) > 0 {
				t.Fatalf("a clean publish through the proxy failed: %s\n%s", strings.Join(probs, "; "), res.stderr)
			}
			span = append(span, map[bool]int64{false: p.Sent(false), true: p.Sent(true)})
			p.Close()
			b.Stop()
		}
		ta.each(runs(4, 60), func(t *testing.T, i int) (string, []string) {
			k := rng.IntN(len(rels))
			r := rels[k]
			f := tcpproxy.Fault{Stall: rng.IntN(2) == 0, Upstream: rng.IntN(2) == 0, StayDown: rng.IntN(2) == 0}
			f.After = rng.Int64N(span[k][f.Upstream] + 1)
			var resume time.Duration // 0: never, the stall lasts the run
			if f.Stall && rng.IntN(2) == 0 {
				resume = randomBetween(rng, netTimeout+500*time.Millisecond, 2*netTimeout)
			}
			return describeFault(f, resume, r.size), netRun(t, envv, kind, r.man, r.art, r.m, r.size, f, resume)
		})
	})
}

func describeFault(f tcpproxy.Fault, resume time.Duration, size int) string {
	way := map[bool]string{true: "towards the broker", false: "towards otactl"}[f.Upstream]
	switch {
	case !f.Stall && f.StayDown:
		return fmt.Sprintf("%d-byte artifact, cut after %d bytes %s, broker unreachable afterwards", size, f.After, way)
	case !f.Stall:
		return fmt.Sprintf("%d-byte artifact, cut after %d bytes %s", size, f.After, way)
	case resume > 0:
		return fmt.Sprintf("%d-byte artifact, stalled after %d bytes %s for %s", size, f.After, way, resume.Round(time.Millisecond))
	}
	return fmt.Sprintf("%d-byte artifact, stalled after %d bytes %s for good", size, f.After, way)
}

// netRun publishes man to the fleet of a fresh broker through a proxy
// armed with f, and returns the invariants broken.
func netRun(t *testing.T, envv []string, kind, man, art string, m manifest, size int, f tcpproxy.Fault, resume time.Duration) []string {
	b := startBroker(t, kind, false, "")
	defer b.Stop()
	p := tcpproxy.Start(t, b.Addr())
	fired := p.Arm(f)
	if resume > 0 {
		go func() {
			select {
			case <-fired:
				time.Sleep(resume) // how long the stall lasts
				p.Resume()
			case <-time.After(publishLimit):
			}
		}()
	}
	// The documented limits: each answer within --timeout, a publish or a
	// retained message being read within --timeout plus its size at
	// 128 KiB/s. A stalled run ends when the step it was in gives up; twice
	// that, and 20 s for everything else, is the hard deadline.
	limit := 2*(netTimeout+time.Duration(size)*time.Second/(128<<10)) + 20*time.Second
	r := runOtactl(t, envv, limit, "release", "publish", man, art, "--broker", p.URL(), "--broker-timeout", netTimeout.String())
	p.Close()

	problems := exitProblems(r, faultCodes...)
	s, err := inspect(b.Addr(), fleetTopic)
	if err != nil {
		return append(problems, err.Error())
	}
	problems = append(problems, s.problems...)
	if r.code == 0 && !r.hung {
		if msg := expectRelease(s, fleetTopic, m); msg != "" {
			problems = append(problems, "the publish exited 0, but "+msg)
		}
	}
	return problems
}
