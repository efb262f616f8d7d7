package upload_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/tcpproxy"
	"github.com/otactl/otactl/internal/testbroker"
	. "github.com/otactl/otactl/upload"
)

// seqRank ranks the test's payloads, "SEQ" or "SEQ:NAME": the sequence
// number, and the name for two releases of one number.
func seqRank(p []byte) Rank {
	s, name, _ := strings.Cut(string(p), ":")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return Rank{}
	}
	return Rank{Seq: n, Release: name}
}

func watch(t *testing.T, c *Client, over bool, topics ...string) *Watch {
	t.Helper()
	w, err := c.Watch(context.Background(), topics, WatchOptions{Rank: seqRank, Over: over})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	t.Cleanup(w.Close)
	return w
}

func retainedString(t *testing.T, c *Client, topic string) string {
	t.Helper()
	b, _, err := c.ReadRetained(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkRetains fails the test unless c reads want retained on topic.
func checkRetains(t *testing.T, c *Client, topic, want string) {
	t.Helper()
	if got := retainedString(t, c, topic); got != want {
		t.Errorf("%s retains %q, want %q", topic, got, want)
	}
}

func publishString(t *testing.T, c *Client, topic, payload string) {
	t.Helper()
	if err := c.PublishRetained(context.Background(), topic, []byte(payload)); err != nil {
		t.Fatal(err)
	}
}

// publishOurs publishes payload on topic through w: the release w is to
// keep there.
func publishOurs(t *testing.T, w *Watch, topic, payload string) {
	t.Helper()
	if err := w.Publish(context.Background(), topic, []byte(payload)); err != nil {
		t.Fatal(err)
	}
}

func settle(t *testing.T, w *Watch, topic string) Outcome {
	t.Helper()
	out, err := w.Settle(context.Background())
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	o, ok := out[topic]
	if !ok {
		t.Fatalf("settle: no outcome for %s: %v", topic, out)
	}
	return o
}

// publishSeen publishes payload to topic from c, and returns once w has
// seen it.
func publishSeen(t *testing.T, c *Client, w *Watch, topic, payload string) {
	t.Helper()
	if err := w.Poll(); err != nil {
		t.Fatal(err)
	}
	n := len(w.Seen(topic))
	publishString(t, c, topic, payload)
	if s := waitSeen(t, w, topic, n+1); len(s) <= n {
		t.Fatalf("the watch never saw %q on %s", payload, topic)
	}
}

// waitSeen polls w until it has seen n messages on topic.
func waitSeen(t *testing.T, w *Watch, topic string, n int) []Seen {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := w.Poll(); err != nil {
			t.Fatal(err)
		}
		if s := w.Seen(topic); len(s) >= n || time.Now().After(deadline) {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatchSeesRetainedThenLive: a watch starts from what is retained and
// then records what others publish, in order.
func TestWatchSeesRetainedThenLive(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		c, other := connect(t, Options{Broker: b.URL}), connect(t, Options{Broker: b.URL})
		publishString(t, other, "w/a", "5")
		w := watch(t, c, false, "w/a", "w/b")
		if got, ok := w.Retained("w/a"); !ok || string(got) != "5" {
			t.Errorf("Retained(w/a) = %q, %v", got, ok)
		}
		if _, ok := w.Retained("w/b"); ok {
			t.Error("w/b retains something")
		}
		publishString(t, other, "w/a", "7")
		publishString(t, other, "w/a", "6")
		// mochi may also send "5" live, once, late: it acknowledges a
		// publish before it forwards it, and the watch subscribed in
		// between. That copy is not a publish of its own.
		seen := waitSeen(t, w, "w/a", 3)
		if len(seen) == 3 && !seen[1].Retained && string(seen[1].Payload) == "5" {
			seen = waitSeen(t, w, "w/a", 4)
		}
		var got []string
		for i, s := range seen {
			if i == 1 && !s.Retained && string(s.Payload) == "5" {
				continue
			}
			got = append(got, fmt.Sprintf("%s/%d/%v", s.Payload, s.Rank.Seq, s.Retained))
		}
		if want := "5/5/true 7/7/false 6/6/false"; strings.Join(got, " ") != want {
			t.Errorf("seen %v, want %s", got, want)
		}
		if s := w.Seen("w/b"); len(s) != 0 {
			t.Errorf("w/b: seen %d messages", len(s))
		}
	})
}

// TestSettle drives each way two publishers of one topic can interleave,
// one step at a time, and checks where the topic ends and what the watch's
// owner is told.
func TestSettle(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		ctx := context.Background()
		c, other := connect(t, Options{Broker: b.URL}), connect(t, Options{Broker: b.URL})

		t.Run("alone", func(t *testing.T) {
			w := watch(t, c, false, "s/alone")
			publishOurs(t, w, "s/alone", "10")
			o := settle(t, w, "s/alone")
			if o.Superseded || o.Restored != 0 || string(o.Retained) != "10" || o.Highest.Seq != 10 {
				t.Errorf("outcome %+v", o)
			}
		})

		// A higher release lands after our check and before our
		// publish: ours replaces it, so we put it back, and are told
		// we were superseded.
		t.Run("higher before our publish", func(t *testing.T) {
			w := watch(t, c, false, "s/hb")
			// Seen before our publish: mochi forwards a publish
			// after acknowledging it, so without the wait its copy
			// could reach the watch after ours (docs/publishing.md,
			// "Concurrent publishes", says what that leaves open).
			publishSeen(t, other, w, "s/hb", "11")
			publishOurs(t, w, "s/hb", "10")
			o := settle(t, w, "s/hb")
			if !o.Superseded || o.Restored != 1 || string(o.Retained) != "11" || o.Highest.Seq != 11 {
				t.Errorf("outcome %+v", o)
			}
			checkRetains(t, other, "s/hb", "11")
		})

		// A higher release lands after ours: it stays, nothing to
		// restore, and we are superseded.
		t.Run("higher after our publish", func(t *testing.T) {
			w := watch(t, c, false, "s/ha")
			publishOurs(t, w, "s/ha", "10")
			publishString(t, other, "s/ha", "11")
			o := settle(t, w, "s/ha")
			if !o.Superseded || o.Restored != 0 || string(o.Retained) != "11" {
				t.Errorf("outcome %+v", o)
			}
		})

		// A lower release lands after ours was confirmed (its publisher
		// checked before we published). Its publisher restores ours
		// (the case above, from its side); we do too if we are still
		// watching, and stay the winner.
		t.Run("lower after our echo", func(t *testing.T) {
			w := watch(t, c, false, "s/la")
			publishOurs(t, w, "s/la", "10")
			if o := settle(t, w, "s/la"); o.Superseded || string(o.Retained) != "10" {
				t.Fatalf("first settle: %+v", o)
			}
			publishSeen(t, other, w, "s/la", "9")
			o := settle(t, w, "s/la")
			if o.Superseded || o.Restored != 1 || string(o.Retained) != "10" {
				t.Errorf("outcome %+v", o)
			}
			checkRetains(t, other, "s/la", "10")
		})

		// A clear (an unpublish) that lands after ours was confirmed
		// is a lower message like any other: ours goes back.
		t.Run("cleared after", func(t *testing.T) {
			w := watch(t, c, false, "s/st")
			publishOurs(t, w, "s/st", "10")
			first := settle(t, w, "s/st")
			if err := w.Poll(); err != nil {
				t.Fatal(err)
			}
			n := len(w.Seen("s/st"))
			if err := other.Clear(ctx, "s/st"); err != nil {
				t.Fatal(err)
			}
			waitSeen(t, w, "s/st", n+1)
			o := settle(t, w, "s/st")
			if first.Restored != 0 || o.Restored != 1 || string(o.Retained) != "10" {
				t.Errorf("first %+v, then %+v", first, o)
			}
		})

		// The same release in another encoding is not a conflict.
		t.Run("same release", func(t *testing.T) {
			w := watch(t, c, false, "s/same")
			publishOurs(t, w, "s/same", "10")
			publishString(t, other, "s/same", "10")
			o := settle(t, w, "s/same")
			if o.Superseded || o.Restored != 0 {
				t.Errorf("outcome %+v", o)
			}
		})

		// Claimed without publishing (the topic retains it already):
		// a lower one that replaces it is put back.
		t.Run("own", func(t *testing.T) {
			publishString(t, other, "s/own", "10")
			w := watch(t, c, false, "s/own")
			if err := w.Own("s/own", []byte("10")); err != nil {
				t.Fatal(err)
			}
			publishString(t, other, "s/own", "9")
			o := settle(t, w, "s/own")
			if o.Superseded || o.Restored != 1 || string(o.Retained) != "10" {
				t.Errorf("outcome %+v", o)
			}
		})

		// Over (--force): what was there before our publish does not
		// count against it, what comes after does.
		t.Run("over", func(t *testing.T) {
			publishString(t, other, "s/over", "20")
			w := watch(t, c, true, "s/over")
			publishOurs(t, w, "s/over", "10")
			if o := settle(t, w, "s/over"); o.Superseded || o.Restored != 0 || string(o.Retained) != "10" {
				t.Fatalf("outcome %+v", o)
			}
			publishSeen(t, other, w, "s/over", "15")
			if o := settle(t, w, "s/over"); !o.Superseded || o.Restored != 0 || string(o.Retained) != "15" {
				t.Errorf("after a higher one: outcome %+v", o)
			}
		})
	})
}

// TestSettleRacers races publishers that follow the protocol, each on a
// connection of its own, many times: the topic must end on the highest
// sequence any of them published, and the highest is never superseded.
func TestSettleRacers(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		const racers, trials = 3, 30
		clients := make([]*Client, racers)
		for i := range clients {
			clients[i] = connect(t, Options{Broker: b.URL})
		}
		restored, superseded, refused := 0, 0, 0
		for trial := range trials {
			topic := fmt.Sprintf("race/%d", trial)
			var wg sync.WaitGroup
			published := make([]bool, racers)
			outcomes := make([]Outcome, racers)
			errs := make([]error, racers)
			for i, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					published[i], outcomes[i], errs[i] = raceOnce(c, topic, int64(10+i), time.Duration(rand.IntN(3000))*time.Microsecond)
				}()
			}
			wg.Wait()
			top := int64(0)
			for i := range clients {
				if errs[i] != nil {
					t.Fatalf("trial %d racer %d: %v", trial, i, errs[i])
				}
				if published[i] {
					top = int64(10 + i)
				} else {
					refused++
				}
				restored += outcomes[i].Restored
				if outcomes[i].Superseded {
					superseded++
				}
			}
			if got := retainedString(t, clients[0], topic); got != strconv.FormatInt(top, 10) {
				t.Fatalf("trial %d: %s retains %q, want %d (published %v, outcomes %+v)", trial, topic, got, top, published, outcomes)
			}
			if last := racers - 1; outcomes[last].Superseded {
				t.Errorf("trial %d: the highest racer was superseded: %+v", trial, outcomes[last])
			}
		}
		t.Logf("%d trials of %d racers: %d refused, %d superseded, %d restores", trials, racers, refused, superseded, restored)
	})
}

// raceOnce is one publisher of the protocol: watch, refuse when a higher
// sequence is seen, wait a little, publish, settle.
func raceOnce(c *Client, topic string, seq int64, delay time.Duration) (bool, Outcome, error) {
	ctx := context.Background()
	w, err := c.Watch(ctx, []string{topic}, WatchOptions{Rank: seqRank})
	if err != nil {
		return false, Outcome{}, err
	}
	defer w.Close()
	time.Sleep(delay)
	if err := w.Poll(); err != nil {
		return false, Outcome{}, err
	}
	for _, s := range w.Seen(topic) {
		if s.Rank.Seq >= seq {
			return false, Outcome{}, nil // anti-rollback
		}
	}
	if err := w.Publish(ctx, topic, []byte(strconv.FormatInt(seq, 10))); err != nil {
		return true, Outcome{}, err
	}
	out, err := w.Settle(ctx)
	return true, out[topic], err
}

// TestWatchEndsWhenConnectionDrops: what a watch saw would have a hole in
// it after a reconnect, so it ends with an error instead.
func TestWatchEndsWhenConnectionDrops(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		proxy := tcpproxy.Start(t, b.Addr)
		c := connect(t, Options{Broker: proxy.URL()})
		w := watch(t, c, false, "drop/a")
		if err := w.Publish(context.Background(), "drop/a", []byte("10")); err != nil {
			t.Fatal(err)
		}
		proxy.CutAll()
		deadline := time.Now().Add(10 * time.Second)
		var err error
		for err == nil && time.Now().Before(deadline) {
			err = w.Poll()
			time.Sleep(10 * time.Millisecond)
		}
		if err == nil || !strings.Contains(err.Error(), "lost") {
			t.Fatalf("Poll after the connection dropped: %v", err)
		}
		if _, err := w.Settle(context.Background()); err == nil {
			t.Error("Settle worked after the connection dropped")
		}
		if err := w.Poll(); err == nil {
			t.Error("the error did not stay")
		}
	})
}
