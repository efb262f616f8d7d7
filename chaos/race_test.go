package chaos

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/tcpproxy"
)

// TestRacingPublishers runs two `release publish` at once to one target (a
// device, or the fleet), with sequences N and N+1. MQTT has no
// compare-and-set, so otactl must converge: once both have exited the
// target retains N+1, a run that exited 0 finds its own release or a
// higher one retained, and each exits 0, 3 (anti-rollback), or 1 with a
// reason.
func TestRacingPublishers(t *testing.T) {
	dir := t.TempDir()
	envv := env(t)
	trials := runs(20, 100)
	rng := newRand(t)
	art := writeRandom(t, rng, dir, "main.bin", 64<<10)

	// Every manifest is made beforehand: trial i races sequences
	// 1000+2i and 1001+2i, so that each trial's pair is above every earlier
	// one on the fleet's topic too.
	type pair struct {
		low, high   string
		lowM, highM manifest
	}
	pairs := make([]pair, trials)
	for i := range pairs {
		p := &pairs[i]
		seq := int64(1000 + 2*i)
		p.low, p.lowM = createRelease(t, envv, dir, fmt.Sprintf("r%d.json", seq), seq, "main@1.0.0="+art)
		p.high, p.highM = createRelease(t, envv, dir, fmt.Sprintf("r%d.json", seq+1), seq+1, "main@1.0.0="+art)
	}

	onEachBroker(t, "racing publishers", func(t *testing.T, kind string, rng *rand.Rand, ta *tally) {
		b := startBroker(t, kind, false, "")
		url := brokerURL(b)
		mustOtactl(t, envv, "upload", "main@1.0.0", art, "--broker", url)
		ta.each(trials, func(t *testing.T, i int) (string, []string) {
			p := pairs[i]
			target, topic := []string{"--device", fmt.Sprintf("race-%d", i)}, deviceTopic(fmt.Sprintf("race-%d", i))
			if rng.IntN(4) == 0 {
				target, topic = nil, fleetTopic
			}
			// Half the trials race over links with latency, as two CI
			// runners on other machines would: each racer through a
			// proxy of its own.
			urls := [2]string{url, url}
			var lat [2]time.Duration
			if rng.IntN(2) == 0 {
				for j := range urls {
					lat[j] = randomBetween(rng, time.Millisecond, 20*time.Millisecond)
					px := tcpproxy.StartDelayed(t, b.Addr(), lat[j])
					defer px.Close()
					urls[j] = px.URL()
				}
			}
			skew := randomBetween(rng, 0, 2*time.Millisecond+2*max(lat[0], lat[1]))
			highFirst := rng.IntN(2) == 0
			what := fmt.Sprintf("%s, sequences %d and %d, %s started %s first, latencies %s", topic, p.lowM.SequenceNumber, p.highM.SequenceNumber,
				map[bool]string{true: "the higher", false: "the lower"}[highFirst], skew.Round(time.Microsecond), lat)
			return what, raceTrial(t, envv, b, urls, target, topic, p.low, p.high, p.highM, highFirst, skew)
		})
	})
}

// raceTrial starts publishes of low and high to target, one skew after the
// other, the first through urls[0] and the second through urls[1], and
// returns the invariants broken once both have exited.
func raceTrial(t *testing.T, envv []string, b testBroker, urls [2]string, target []string, topic, low, high string, highM manifest, highFirst bool, skew time.Duration) []string {
	args := func(man, url string) []string {
		return append([]string{"release", "publish", man, "--broker", url, "--broker-timeout", "10s"}, target...)
	}
	first, second := low, high
	if highFirst {
		first, second = high, low
	}
	p1 := startOtactl(t, envv, args(first, urls[0])...)
	time.Sleep(skew) // the race's skew: chosen at random, not a synchronisation
	p2 := startOtactl(t, envv, args(second, urls[1])...)
	r1, r2 := p1.wait(publishLimit), p2.wait(publishLimit)
	rLow, rHigh := r1, r2
	if highFirst {
		rLow, rHigh = r2, r1
	}
	problems := prefixed("lower: ", exitProblems(rLow, 0, 1, 3))
	problems = append(problems, prefixed("higher: ", exitProblems(rHigh, 0, 1, 3))...)

	s, err := inspect(b.Addr(), topic)
	if err != nil {
		return append(problems, err.Error())
	}
	problems = append(problems, s.problems...)
	got := s.seq(topic)
	if got != highM.SequenceNumber {
		problems = append(problems, fmt.Sprintf("%s retains sequence %d after both exited (lower %s, higher %s), want %d",
			topic, got, rLow.summary(), rHigh.summary(), highM.SequenceNumber))
	}
	if rHigh.code == 0 && got < highM.SequenceNumber {
		problems = append(problems, fmt.Sprintf("the higher run exited 0 but %s retains %d", topic, got))
	}
	if rLow.code == 0 && got < highM.SequenceNumber-1 {
		problems = append(problems, fmt.Sprintf("the lower run exited 0 but %s retains %d", topic, got))
	}
	return problems
}
