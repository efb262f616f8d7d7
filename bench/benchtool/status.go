package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// status-100k: `otactl rollout status -o json` against
// `mosquitto_sub -C 100000` of the same retained reports. Before the runs
// the fleet's reports are published retained (benchtool fill) and a
// release for 1.1.0 is retained on .u/desired, as after a real rollout.
func (s *suite) status100k(ctx context.Context) (result, error) {
	out := filepath.Join(s.dir, "out", "status.json")
	return s.statusCompare(ctx, statusRead{
		command: "rollout status", n: quickOr(s, 100_000, 10_000), target: 1.5, memLimitMiB: 200, runs: s.runsOr(7, 3),
		out: out, check: checkStatus,
	})
}

// status1m: `otactl watch --once -o json` over 1,000,000 retained reports
// (under a topic prefix of their own, m1/) against `mosquitto_sub -C
// 1000000`.
func (s *suite) status1m(ctx context.Context) (result, error) {
	return s.statusCompare(ctx, statusRead{
		command: "watch --once", prefix: "m1/", n: quickOr(s, 1_000_000, 20_000), target: 1.2, memLimitMiB: 600, runs: s.runsOr(3, 3),
		out: filepath.Join(s.dir, "out", "status-1m.json"), check: checkWatchLines,
	})
}

// statusRead is a read of n retained reports by an otactl command with
// -o json, against mosquitto_sub reading as many.
type statusRead struct {
	command     string // "rollout status", "watch --once"
	prefix      string // topic prefix of the reports and the release
	n, runs     int
	target      float64
	memLimitMiB float64
	out         string                  // where the warm-up's JSON goes
	check       func(string, int) error // proves the JSON counts what fill published
}

// statusCompare fills the broker with the reports (benchtool fill) and a
// release for 1.1.0 retained on .u/desired, as after a real rollout, and
// compares the read.
func (s *suite) statusCompare(ctx context.Context, r statusRead) (result, error) {
	var words []string // the command without its flags
	for _, w := range strings.Fields(r.command) {
		if !strings.HasPrefix(w, "-") {
			words = append(words, w)
		}
	}
	if err := s.need(ctx, strings.Join(words, " ")); err != nil {
		return result{}, err
	}
	start := time.Now()
	if err := fill(ctx, s.broker, r.n, r.prefix); err != nil {
		return result{}, fmt.Errorf("fill: %w", err)
	}
	fmt.Fprintf(os.Stderr, "  published %d retained reports in %s\n", r.n, secs(time.Since(start)))
	if err := s.publishDesired(ctx, r.prefix); err != nil {
		return result{}, err
	}
	count := fmt.Sprint(r.n)
	argv := append(append([]string{s.otactl}, strings.Fields(r.command)...), "-o", "json")
	return s.compare(ctx, comparison{
		size:        fmt.Sprintf("%d reports", r.n),
		target:      r.target,
		memLimitMiB: r.memLimitMiB,
		runs:        r.runs,
		warmups:     1,
		wrap:        true,
		timeout:     5 * time.Minute,
		otactl: func(i int) []step {
			st := step{argv: argv}
			if r.prefix != "" {
				st.env = []string{"OTACTL_TOPIC_PREFIX=" + r.prefix}
			}
			if i < 0 {
				st.stdout = r.out
			}
			return []step{st}
		},
		reference: func(int) []step {
			// -W: a broker that retains fewer than n makes this fail
			// instead of hang; the warm-up run is the count's check.
			return []step{{argv: s.mosq("mosquitto_sub", "-C", count, "-W", "300", "-t", r.prefix+"devices/+/.u/c/+")}}
		},
		check: func(context.Context) error { return r.check(r.out, r.n) },
	})
}

// checkWatchLines proves `watch --once -o json` printed every report: one
// JSON line per device, n devices, with the states and reasons fill gave
// them.
func checkWatchLines(path string, n int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	devices := make(map[string]bool, n)
	var failed, downloading, idle int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			Device  string `json:"device"`
			State   int    `json:"state"`
			Reason  int    `json:"reason"`
			Version string `json:"version"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("watch --once -o json, line %d: %w", len(devices)+1, err)
		}
		devices[r.Device] = true
		switch {
		case r.State == 1 && r.Reason == 5:
			failed++
		case r.State == 1:
			downloading++
		case r.State == 0 && r.Version == fillTarget:
			idle++
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	want := [3]int{}
	for i := range n {
		switch i % 10 {
		case 0:
			want[0]++
		case 1, 2:
			want[1]++
		default:
			want[2]++
		}
	}
	if len(devices) != n || [3]int{failed, downloading, idle} != want {
		return fmt.Errorf("watch --once -o json printed %d devices (failed %d, downloading %d, idle on %s %d), want %d (%d, %d, %d)",
			len(devices), failed, downloading, fillTarget, idle, n, want[0], want[1], want[2])
	}
	return nil
}

// publishDesired retains a release of main 1.1.0 on .u/desired under
// prefix, made by `otactl release create` and published with
// mosquitto_pub.
func (s *suite) publishDesired(ctx context.Context, prefix string) error {
	art, err := s.dataFile(ctx, "status-main.bin", 4*kib)
	if err != nil {
		return err
	}
	rel := filepath.Join(s.dir, "out", "status-release.json")
	_, err = s.r.run(ctx, []step{
		{argv: []string{s.otactl, "release", "create", "-c", "main@" + fillTarget + "=" + art, "--sequence", "100", "--out", rel}},
		{argv: s.mosq("mosquitto_pub", "-q", "1", "-r", "-f", rel, "-t", prefix+".u/desired")},
	}, false, time.Minute)
	return err
}

// checkStatus proves otactl read every report: its summary counts all n
// devices and the states fill gave them.
func checkStatus(path string, n int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var st struct {
		Summary *struct {
			Devices   int `json:"devices"`
			Updated   int `json:"updated"`
			Failed    int `json:"failed"`
			Malformed int `json:"malformed"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("rollout status -o json: %w", err)
	}
	if st.Summary == nil {
		return fmt.Errorf("rollout status -o json: no summary in %s", path)
	}
	updated, failed := 0, 0
	for i := range n {
		switch i % 10 {
		case 0:
			failed++
		case 1, 2:
		default:
			updated++
		}
	}
	got := *st.Summary
	if got.Devices != n || got.Updated != updated || got.Failed != failed || got.Malformed != 0 {
		return fmt.Errorf("rollout status counted devices=%d updated=%d failed=%d malformed=%d, want %d %d %d 0",
			got.Devices, got.Updated, got.Failed, got.Malformed, n, updated, failed)
	}
	return nil
}
