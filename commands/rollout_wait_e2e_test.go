package commands

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/report"
)

// These tests run the built binary against real brokers (the embedded one
// and mosquitto), with reports published as devices publish them, and
// check that rollout wait decides as soon as it can: exit 4 once the goal
// can no longer be met, exit 0 once it is met, exit 130 on a signal, each
// long before --timeout.

// decided is the bound on how long a decided gate may take to say so: far
// above what it takes (well under a second), far below --timeout.
const decided = 10 * time.Second

// earlyVerdict is what rollout wait -o json prints, read with names of
// its own so that the counts can be checked against the rows.
type earlyVerdict struct {
	Verdict       string `json:"verdict"`
	Done          bool   `json:"done"`
	Failed        bool   `json:"failed"`
	TooManyFailed bool   `json:"tooManyFailed"`
	Unreachable   bool   `json:"unreachable"`
	Total         int    `json:"total"`
	Updated       int    `json:"updated"`
	Need          int    `json:"need"`
	FailedCount   int    `json:"failedCount"`
	PendingCount  int    `json:"pendingCount"`
	NotSeen       int    `json:"notSeen"`
	NotKnown      int    `json:"notKnown"`
	Failures      []struct {
		Device string `json:"device"`
		Seen   bool   `json:"seen"`
	} `json:"failures"`
	Pending []struct {
		Device string `json:"device"`
		Seen   bool   `json:"seen"`
	} `json:"pending"`
}

func decodeEarly(t *testing.T, out string) earlyVerdict {
	t.Helper()
	var v earlyVerdict
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("verdict %q: %v", out, err)
	}
	return v
}

// agree checks that the verdict's counts add up to its rows.
func (v earlyVerdict) agree(t *testing.T) {
	t.Helper()
	unseen := 0
	for _, r := range v.Pending {
		if !r.Seen {
			unseen++
		}
	}
	if v.FailedCount != len(v.Failures) || v.PendingCount != len(v.Pending)+v.NotKnown ||
		v.NotSeen != unseen+v.NotKnown || v.Total != v.Updated+v.FailedCount+v.PendingCount {
		t.Errorf("counts contradict the rows: total %d = %d updated + %d failed (%d rows) + %d pending (%d rows, %d not known); notSeen %d, %d rows unseen",
			v.Total, v.Updated, v.FailedCount, len(v.Failures), v.PendingCount, len(v.Pending), v.NotKnown, v.NotSeen, unseen)
	}
}

// publishEarlyFleet publishes, under prefix, the fleet's desired manifest
// for main 1.1.0 and the reports of `updated` devices u00.. running it,
// and of `others` devices x00.. with report other (nil: none), in the
// encodings devices use.
func publishEarlyFleet(t *testing.T, env *testbroker.Broker, prefix string, updated, others int, other func(i int) []byte) {
	t.Helper()
	env.Publish(t, prefix+".u/desired", manifestPayload(t, 5000, false, map[string]string{"main": "1.1.0"}))
	for i := range updated {
		var p []byte
		switch i % 3 {
		case 0:
			p = reportPayload(t, report.Updated, report.ReasonUpdated, "1.1.0", "", "json", false)
		case 1:
			p = reportPayload(t, report.Idle, report.ReasonReady, "1.1.0", "", "json", true)
		default:
			p = sdkPayload(t, 3, 1, "1.1.0", "")
		}
		env.Publish(t, fmt.Sprintf("%sdevices/u%02d/.u/c/main", prefix, i), p)
	}
	for i := range others {
		env.Publish(t, fmt.Sprintf("%sdevices/x%02d/.u/c/main", prefix, i), other(i))
	}
}

// failedReport is an integrity failure at 1.1.0, as the SDK or a JSON
// device reports it.
func failedReport(t *testing.T, i int) []byte {
	if i%2 == 0 {
		return sdkPayload(t, 1, 5, "1.0.0", "1.1.0")
	}
	return reportPayload(t, report.Downloading, report.ReasonIntegrityCheckFailed, "1.0.0", "1.1.0", "json", true)
}

func TestRolloutWaitDecidesEarlyE2E(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, env *testbroker.Broker) {
		args := func(prefix string, more ...string) []string {
			return append([]string{"rollout", "wait", "--broker", env.URL, "--topic-prefix", prefix, "--version", "1.1.0", "--timeout", "120s", "-o", "json"}, more...)
		}
		timed := func(args ...string) (result, time.Duration) {
			t0 := time.Now()
			res := runOtactl(t, "", nil, "", args...)
			return res, time.Since(t0)
		}

		// The case: 96 updated, 4 failed, 0 pending.
		publishEarlyFleet(t, env, "retained/", 96, 4, func(i int) []byte { return failedReport(t, i) })

		t.Run("unreachable", func(t *testing.T) {
			res, took := timed(args("retained/", "--max-failed", "5")...)
			if res.code != ExitRolloutFail || took > decided {
				t.Fatalf("exit %d after %s, want %d within %s\n%s", res.code, took.Round(time.Millisecond), ExitRolloutFail, decided, res.stderr)
			}
			v := decodeEarly(t, res.stdout)
			v.agree(t)
			if v.Verdict != "failed" || !v.Unreachable || v.TooManyFailed || v.Updated != 96 || v.FailedCount != 4 || v.PendingCount != 0 || v.Need != 100 {
				t.Errorf("verdict %+v", v)
			}
			for _, want := range []string{
				"failed:\n  x00: integrity check failure",
				"rollout failed: the goal can no longer be met: 96 of 100 devices updated, 4 failed (5 allowed) and 0 can still update, fewer than the 100 needed",
				"hint: a failed device cannot count as updated",
			} {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, res.stderr)
				}
			}
		})

		t.Run("met", func(t *testing.T) {
			res, took := timed(args("retained/", "--max-failed", "5", "--min-updated", "96%")...)
			if res.code != ExitOK || took > decided {
				t.Fatalf("exit %d after %s, want 0 within %s\n%s", res.code, took.Round(time.Millisecond), decided, res.stderr)
			}
			if v := decodeEarly(t, res.stdout); v.Verdict != "done" || v.Updated != 96 || v.Need != 96 {
				t.Errorf("verdict %+v", v)
			}
		})

		// Live: 96 updated, 4 still downloading.
		publishEarlyFleet(t, env, "live/", 96, 4, func(int) []byte {
			return reportPayload(t, report.Downloading, report.ReasonReady, "1.0.0", "1.1.0", "cbor", true)
		})
		pub := func(topic string, payload []byte) { env.Publish(t, "live/"+topic, payload) }

		t.Run("met live", func(t *testing.T) {
			w := startOtactl(t, args("live/", "--max-failed", "2", "--min-updated", "98%")...)
			waitFor(t, "the first progress line", func() bool {
				return strings.Contains(w.stderr.String(), "main 1.1.0: 96/100 updated (need 98), 0 failed (allowed 2), 4 pending")
			})
			pub("devices/x00/.u/c/main", sdkPayload(t, 3, 1, "1.1.0", ""))
			pub("devices/x01/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "1.1.0", "", "json", false))
			t0 := time.Now()
			code := w.wait(t)
			if took := time.Since(t0); code != ExitOK || took > decided {
				t.Fatalf("exit %d %s after the last report, want 0 within %s\n%s", code, took.Round(time.Millisecond), decided, w.stderr)
			}
			if v := decodeEarly(t, w.stdout.String()); v.Verdict != "done" || v.Updated != 98 {
				t.Errorf("verdict %+v", v)
			}
		})

		t.Run("unreachable live", func(t *testing.T) {
			// 98 updated, x02 and x03 downloading: one failure of
			// the five allowed, and the 100 needed are out of reach.
			w := startOtactl(t, args("live/", "--max-failed", "5")...)
			waitFor(t, "the first progress line", func() bool {
				return strings.Contains(w.stderr.String(), "main 1.1.0: 98/100 updated (need 100), 0 failed (allowed 5), 2 pending")
			})
			pub("devices/x02/.u/c/main", failedReport(t, 0))
			t0 := time.Now()
			code := w.wait(t)
			if took := time.Since(t0); code != ExitRolloutFail || took > decided {
				t.Fatalf("exit %d %s after the failure, want %d within %s\n%s", code, took.Round(time.Millisecond), ExitRolloutFail, decided, w.stderr)
			}
			v := decodeEarly(t, w.stdout.String())
			v.agree(t)
			if !v.Unreachable || v.FailedCount != 1 || v.PendingCount != 1 || len(v.Pending) != 1 || v.Pending[0].Device != "x03" {
				t.Errorf("verdict %+v", v)
			}
		})

		// Listed devices: one updated, one failed, one never reported.
		pubL := func(topic string, payload []byte) { env.Publish(t, "list/"+topic, payload) }
		pubL("devices/d1/.u/c/main", reportPayload(t, report.Updated, report.ReasonUpdated, "1.1.0", "", "cbor", true))
		pubL("devices/d2/.u/c/main", failedReport(t, 1))
		pubL("devices/d4/.u/c/main", reportPayload(t, report.Downloading, report.ReasonReady, "1.0.0", "1.1.0", "json", false))
		file := filepath.Join(t.TempDir(), "devices.txt")
		if err := os.WriteFile(file, []byte("d1\nd2\n# not yet\nd3\n"), 0o644); err != nil {
			t.Fatal(err)
		}

		t.Run("listed unreachable", func(t *testing.T) {
			res, took := timed(args("list/", "--devices-file", file, "--max-failed", "1")...)
			if res.code != ExitRolloutFail || took > decided {
				t.Fatalf("exit %d after %s, want %d within %s\n%s", res.code, took.Round(time.Millisecond), ExitRolloutFail, decided, res.stderr)
			}
			v := decodeEarly(t, res.stdout)
			v.agree(t)
			if !v.Unreachable || v.Total != 3 || v.NotSeen != 1 {
				t.Errorf("verdict %+v", v)
			}
		})

		t.Run("listed counts agree", func(t *testing.T) {
			// Two of three needed: d3, never seen, could still
			// update; the wait times out and says so consistently.
			res := runOtactl(t, "", nil, "", append(args("list/", "--devices-file", file, "--max-failed", "1", "--min-updated", "60%"), "--timeout", "2s")...)
			if res.code != ExitTimeout {
				t.Fatalf("exit %d, want %d\n%s", res.code, ExitTimeout, res.stderr)
			}
			v := decodeEarly(t, res.stdout)
			v.agree(t)
			if v.NotSeen != 1 || v.NotKnown != 0 || len(v.Pending) != 1 || v.Pending[0].Device != "d3" || v.Pending[0].Seen {
				t.Errorf("verdict %+v", v)
			}
			// And with --expect, the devices not yet known have no
			// row but count as not seen and pending.
			res = runOtactl(t, "", nil, "", "rollout", "wait", "--broker", env.URL, "--topic-prefix", "list/", "--version", "1.1.0",
				"--expect", "6", "--min-updated", "50%", "--max-failed", "1", "--timeout", "2s", "-o", "json")
			if res.code != ExitTimeout {
				t.Fatalf("--expect 6: exit %d, want %d\n%s", res.code, ExitTimeout, res.stderr)
			}
			v = decodeEarly(t, res.stdout)
			v.agree(t)
			if v.Total != 6 || v.NotKnown != 3 || v.NotSeen != 3 || v.PendingCount != 4 {
				t.Errorf("--expect 6: verdict %+v", v)
			}
		})
	})
}

func TestRolloutWaitSignalsE2E(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, env *testbroker.Broker) {
		publishEarlyFleet(t, env, "sig/", 3, 2, func(int) []byte {
			return reportPayload(t, report.Downloading, report.ReasonReady, "1.0.0", "1.1.0", "json", false)
		})
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(sig.String(), func(t *testing.T) {
				w := startOtactl(t, "rollout", "wait", "--broker", env.URL, "--topic-prefix", "sig/", "--version", "1.1.0", "--timeout", "120s", "-o", "json")
				waitFor(t, "the first progress line", func() bool {
					return strings.Contains(w.stderr.String(), "main 1.1.0: 3/5 updated (need 5), 0 failed (allowed 0), 2 pending")
				})
				interrupted(t, w, sig)
			})
		}
	})
}

// TestRolloutWaitStalledBrokerE2E: a broker that takes the connection and
// then answers nothing. A signal still ends the wait (130); --timeout
// ends it as a timeout (5), with or without --version.
func TestRolloutWaitStalledBrokerE2E(t *testing.T) {
	t.Parallel()
	url := stalledRolloutBroker(t)
	base := []string{"rollout", "wait", "--broker", url, "--connect-timeout", "60s"}

	w := startOtactl(t, append(base, "--version", "1.1.0", "--timeout", "120s")...)
	time.Sleep(time.Second) // connected, and waiting for the retained messages
	interrupted(t, w, syscall.SIGINT)

	for _, more := range [][]string{{"--version", "1.1.0"}, nil} {
		t0 := time.Now()
		res := runOtactl(t, "", nil, "", append(append(base, "--timeout", "2s"), more...)...)
		if took := time.Since(t0); res.code != ExitTimeout || took > decided {
			t.Errorf("%v: exit %d after %s, want %d within %s\n%s", more, res.code, took.Round(time.Millisecond), ExitTimeout, decided, res.stderr)
		}
		if !strings.Contains(res.stderr, "rollout timed out after 2s") {
			t.Errorf("%v: stderr:\n%s", more, res.stderr)
		}
	}
}

// interrupted sends sig to a running wait and checks that it ends at
// once with exit 130, saying "interrupted" and printing no verdict.
func interrupted(t *testing.T, w *runningOtactl, sig syscall.Signal) {
	t.Helper()
	if err := w.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	code := w.wait(t)
	if took := time.Since(t0); code != ExitInterrupted || took > decided {
		t.Fatalf("%s: exit %d after %s, want %d within %s\n%s", sig, code, took.Round(time.Millisecond), ExitInterrupted, decided, w.stderr)
	}
	if !strings.HasSuffix(w.stderr.String(), "interrupted\n") || w.stdout.String() != "" {
		t.Errorf("%s: stdout %q, stderr:\n%s", sig, w.stdout, w.stderr)
	}
}

// stalledBroker listens on loopback, accepts MQTT connections with a
// CONNACK, and then reads and drops everything, answering nothing.
func stalledRolloutBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				// CONNECT: a fixed header byte, a remaining length, the rest.
				hdr := make([]byte, 1)
				if _, err := io.ReadFull(c, hdr); err != nil {
					return
				}
				n, mul := 0, 1
				for {
					if _, err := io.ReadFull(c, hdr); err != nil {
						return
					}
					n += int(hdr[0]&0x7f) * mul
					if hdr[0]&0x80 == 0 {
						break
					}
					mul *= 128
				}
				if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
					return
				}
				if _, err := c.Write([]byte{0x20, 0x02, 0x00, 0x00}); err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return "mqtt://" + ln.Addr().String()
}
