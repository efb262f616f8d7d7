package commands

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/profile"
	"github.com/otactl/otactl/simulator"
	"github.com/otactl/otactl/upload"
)

type simulateOptions struct {
	Conn           connectOptions
	Devices        int
	IDPrefix       string
	Package        string
	Version        string
	Cohort         string
	Pubkeys        []string
	Threshold      int
	RootPubkeys    []string
	RootThreshold  int
	Fail           string
	Speed          string
	Jitter         time.Duration
	Reboot         time.Duration
	Flash          string
	ReportEncoding string
	ReportKeys     string
	Ramp           string
	Connect        string
	Shard          string
	Seed           int64
	For            time.Duration
	Verbose        bool
	Output         string
}

// simulateDescription is the help text of otactl simulate.
const simulateDescription = `Runs --devices simulated devices, each its own MQTT connection with its
device id as client id, that do what a real device does (docs/fleet.md):
report their state, follow their device, cohort and fleet desired
manifests, act on the valid one with the highest sequence number (never
one already handled, never an expired one, and with --pubkey never one
that is unsigned or badly signed), download the component from its uri,
check its size and SHA-256, reboot into it and report each step, retained.

--fail injects failures, each with a probability per update attempt:
flash (reason 2), ram (3), connection (4, the connection really drops),
integrity (5, the downloaded copy is corrupted and the check catches it),
type (6), uri (7), update (8, the new image does not boot) and io (10).
A failed attempt is reported as the Golioth SDK reports it (the failure,
then idle, then idle awaiting retry) and tried again after a pause of 2s,
then 4s: at most 3 attempts at a release, each meeting --fail afresh.
After the last the failure stays; a new release is acted on. An update
failure (8) is final at once.

With --root-pubkey each device follows the signed key set on P.u/keys
(docs/keys.md#key-rotation, 'otactl key rotate'): it accepts a new key set
only when signed by --root-threshold of the root keys it trusts now and of
a higher version, then verifies manifests with its release keys (before
the first key set: --pubkey, or none, and it acts on no release). A
refused key set is logged (a "keyset-refused" event, also on standard
error), never reported as a state.

With a broker password (--password-stdin or OTACTL_PASSWORD) each device
logs in with its device id as user name, unless --username names one
account for all (the profile's and OTACTL_USERNAME, the operator's, are not
used).
Each device is a light MQTT client of its own (one connection, about
25 KB of memory) that streams a component through SHA-256 as it arrives.
The devices connect at --ramp devices a second (500/s: 15,000 in 30 s),
the first time and every time after (reboots, reconnects), so that a
fleet that reboots at once does not storm the broker; --connect spreads them over several brokers in turn;
--shard I/N runs the I-th of N slices of the device ids, so that N
processes (one can hold about 19,000 connections) run one fleet.

Progress goes to standard error; -v prints each device's steps on
standard output, -o json prints them as JSON lines. Stop with Ctrl-C. At
the end it prints the load figures: first connections a second, report
latency (PUBLISH to PUBACK, p50, p90, p99) and failures, on standard
error, or with -o json as the last line, {"schema":"otactl/simulate-summary/v1",
"kind":"summary",...}. 'otactl simulate summary' sums up the summaries of
the processes of one fleet (--shard I/N) into one.

Example:
   $ otactl simulate --devices 100 --fail integrity=5%,update=1% --jitter 2s
   $ otactl simulate --devices 1000 --report-encoding mixed --report-keys mixed --pubkey release.pub.pem
   $ otactl simulate --devices 50 --root-pubkey root.pub.pem
   $ otactl simulate --devices 30000 --shard 1/2 --ramp 1000/s --connect mqtt://b1:1883,mqtt://b2:1883`

func newSimulateCommand(sys *System) *cli.Command {
	opts := &simulateOptions{}
	flags := []cli.Flag{
		&cli.IntFlag{Name: "devices", Aliases: []string{"n"}, Usage: "how many devices to simulate", Value: 10, Destination: &opts.Devices},
		&cli.StringFlag{Name: "id-prefix", Usage: "device ids are `PREFIX` and a number: sim-0001, sim-0002...", Value: "sim-", Destination: &opts.IDPrefix},
		&cli.StringFlag{Name: "package", Usage: "the `PACKAGE` the devices run", Value: fleet.DefaultPackage, Destination: &opts.Package},
		&cli.StringFlag{Name: "version", Usage: "the `VERSION` the devices run at start", Value: "1.0.0", Destination: &opts.Version},
		&cli.StringFlag{Name: "cohort", Usage: "the devices' cohort `NAME`: they also follow its desired manifest", Destination: &opts.Cohort},
		stringsFlag(&cli.StringSliceFlag{Name: "pubkey", Usage: "trusted public key (PEM `FILE` or keyring NAME): refuse releases it did not sign (repeatable)"}, &opts.Pubkeys),
		&cli.IntFlag{Name: "threshold", Usage: "valid signatures needed from distinct trusted keys (default 1 with a key)", Destination: &opts.Threshold},
		stringsFlag(&cli.StringSliceFlag{Name: "root-pubkey", Usage: "root public `KEY` the devices are provisioned with: they follow the key set it signs on P.u/keys (repeatable)"}, &opts.RootPubkeys),
		&cli.IntFlag{Name: "root-threshold", Usage: "root signatures a new key set needs (default 1 with a root key)", Destination: &opts.RootThreshold},
		&cli.StringFlag{Name: "fail", Usage: "inject failures: `KIND=P%`,... with kinds " + strings.Join(simulator.FailureKinds(), ", "), Destination: &opts.Fail},
		&cli.StringFlag{Name: "speed", Usage: "simulated download speed per device, e.g. 200k/s (default: as fast as the broker sends)", Destination: &opts.Speed},
		&cli.DurationFlag{Name: "jitter", Usage: "delay each device's start and each update by a random time up to `DURATION`", Destination: &opts.Jitter},
		&cli.DurationFlag{Name: "reboot-time", Usage: "how long a simulated reboot takes", Value: 500 * time.Millisecond, Destination: &opts.Reboot},
		&cli.StringFlag{Name: "flash", Usage: "flash `SIZE` for an image, e.g. 1M: larger components fail with reason 2", Destination: &opts.Flash},
		&cli.StringFlag{Name: "report-encoding", Usage: "state reports in json, cbor or mixed (each device one of them in turn)", Value: "cbor", Destination: &opts.ReportEncoding},
		&cli.StringFlag{Name: "report-keys", Usage: "report keys long (state, reason...), short (s, r...) or mixed", Value: "short", Destination: &opts.ReportKeys},
		&cli.Int64Flag{Name: "seed", Usage: "seed of the injected failures and jitter (default: random)", Destination: &opts.Seed},
		&cli.DurationFlag{Name: "for", Usage: "stop after `DURATION` (default: run until interrupted)", Destination: &opts.For},
		&cli.StringFlag{Name: "ramp", Usage: "connections a second, first ones and reboots alike, `N/s` (default " + fmt.Sprint(simulator.DefaultRamp) + "/s)", Destination: &opts.Ramp},
		&cli.StringFlag{Name: "connect", Usage: "spread the devices over these brokers, `URL,URL,...` (instead of --broker)", Destination: &opts.Connect},
		&cli.StringFlag{Name: "shard", Usage: "run only the I-th of N equal slices of the device ids, `I/N`: N processes run one fleet", Destination: &opts.Shard},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print every device's every step on standard output", Destination: &opts.Verbose},
		outputFlag(&opts.Output),
	}
	flags = append(flags, connectFlags(&opts.Conn)...)
	return &cli.Command{
		Name:        "simulate",
		Usage:       "simulate a fleet of devices that update over MQTT",
		UsageText:   "otactl simulate [--devices 10] [--id-prefix sim-] [--package main --version 1.0.0] [--cohort NAME] [--pubkey KEY]... [--root-pubkey KEY]... [--fail integrity=5%,...] [--speed 200k/s] [--jitter 2s] [--ramp 500/s] [--connect URL,...] [--shard I/N] [-v] [-o json]",
		Description: simulateDescription,
		Flags:       flags,
		Subcommands: []*cli.Command{newSimulateSummaryCommand(sys)},
		Action: runWithoutArgs("simulate", "run 'otactl simulate --help'", func(ctx context.Context) error {
			return simulateRun(ctx, sys, opts)
		}),
	}
}

// simulateConfig checks the options and turns them into a fleet
// configuration, the connection included.
func simulateConfig(sys *System, opts *simulateOptions) (simulator.Config, error) {
	cfg := simulator.Config{
		Devices:  opts.Devices,
		IDPrefix: opts.IDPrefix,
		Package:  opts.Package,
		Version:  opts.Version,
		Cohort:   opts.Cohort,
		Jitter:   opts.Jitter,
		Reboot:   opts.Reboot,
		Encoding: opts.ReportEncoding,
		KeyNames: opts.ReportKeys,
		Seed:     opts.Seed,
		Now:      sys.Now,
	}
	if opts.Devices < 1 {
		return cfg, usageErrorf("simulate: --devices %d: want at least 1", opts.Devices)
	}
	if opts.Jitter < 0 || opts.Reboot <= 0 || opts.For < 0 {
		return cfg, usageErrorf("simulate: --jitter, --reboot-time and --for must not be negative")
	}
	if opts.Conn.given("client-id") {
		return cfg, usageErrorf("simulate: --client-id: each device's client id is its device id")
	}
	var err error
	if cfg.Failures, err = simulator.ParseFailures(opts.Fail); err != nil {
		return cfg, usageErrorf("simulate: --fail: %v", err)
	}
	if opts.Speed != "" {
		if cfg.Speed, err = profile.ParseSize(strings.TrimSuffix(opts.Speed, "/s")); err != nil {
			return cfg, usageErrorf("simulate: --speed: %v", err)
		}
	}
	if opts.Flash != "" {
		if cfg.FlashSize, err = profile.ParseSize(opts.Flash); err != nil {
			return cfg, usageErrorf("simulate: --flash: %v", err)
		}
	}
	switch opts.ReportEncoding {
	case "json", "cbor", "mixed":
	default:
		return cfg, usageErrorf("simulate: --report-encoding %q: use json, cbor or mixed", opts.ReportEncoding)
	}
	switch opts.ReportKeys {
	case "long", "short", "mixed":
	default:
		return cfg, usageErrorf("simulate: --report-keys %q: use long, short or mixed", opts.ReportKeys)
	}
	if opts.Threshold < 0 || opts.Threshold > len(opts.Pubkeys) {
		return cfg, usageErrorf("simulate: --threshold %d: want 0 to the %d --pubkey given", opts.Threshold, len(opts.Pubkeys))
	}
	if cfg.Keys, err = resolvePublicKeys(sys, opts.Pubkeys); err != nil {
		return cfg, err
	}
	cfg.Threshold = opts.Threshold
	if opts.RootThreshold < 0 || opts.RootThreshold > len(opts.RootPubkeys) {
		return cfg, usageErrorf("simulate: --root-threshold %d: want 0 to the %d --root-pubkey given", opts.RootThreshold, len(opts.RootPubkeys))
	}
	if cfg.Roots, err = resolvePublicKeysFlag(sys, nil, "--root-pubkey", opts.RootPubkeys); err != nil {
		return cfg, err
	}
	cfg.RootThreshold = opts.RootThreshold
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano()
	}
	if err := simulateScale(&cfg, opts); err != nil {
		return cfg, err
	}
	cfg.Conn, err = simulateConn(sys, opts)
	return cfg, err
}

// simulateScale reads --ramp, --shard and --connect.
func simulateScale(cfg *simulator.Config, opts *simulateOptions) error {
	var err error
	if opts.Ramp != "" {
		if cfg.Ramp, err = simulator.ParseRamp(opts.Ramp); err != nil {
			return usageErrorf("simulate: --ramp: %v", err)
		}
	}
	if opts.Shard != "" {
		if cfg.Shard, cfg.Shards, err = simulator.ParseShard(opts.Shard); err != nil {
			return usageErrorf("simulate: --shard: %v", err)
		}
	}
	if opts.Connect != "" {
		if opts.Conn.given("broker") {
			return usageErrorf("simulate: --connect and --broker: give the brokers with one of them")
		}
		for _, u := range strings.Split(opts.Connect, ",") {
			if u = strings.TrimSpace(u); u != "" {
				cfg.Endpoints = append(cfg.Endpoints, u)
			}
		}
	}
	return nil
}

// simulateConn is how the devices connect: the broker and TLS settings of
// the connection flags, and the devices' credentials.
func simulateConn(sys *System, opts *simulateOptions) (upload.Options, error) {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return upload.Options{}, err
	}
	conn := cn.Options
	// The devices' password: each logs in as itself unless --username
	// names one account for all. A user name from the environment or the
	// profile is the operator's, not the devices'.
	if !opts.Conn.given("username") {
		conn.Username = ""
		cn.Options.Username = ""
	}
	switch {
	case opts.Conn.PasswordStdin:
		pw, err := readPasswordLine(sys.Stdin)
		if err != nil {
			return conn, err
		}
		conn.Password = pw
	case sys.Getenv("OTACTL_PASSWORD") != "":
		conn.Password = sys.Getenv("OTACTL_PASSWORD")
	case conn.Username != "":
		if err := opts.Conn.password(sys, cn); err != nil {
			return conn, err
		}
		conn.Password = cn.Options.Password
	}
	return conn, nil
}

func simulateRun(ctx context.Context, sys *System, opts *simulateOptions) error {
	cfg, err := simulateConfig(sys, opts)
	if err != nil {
		return err
	}
	ctx, out, cancel := newStreamOut(ctx, sys, opts.Verbose || opts.Output == "json")
	defer cancel()
	events := newSimEvents(sys, opts, out)
	cfg.OnEvent = events.add
	fleet, err := simulator.New(cfg)
	if err != nil {
		return usageErrorf("simulate: %v", err)
	}
	if err := simulator.CheckOpenFiles(len(fleet.Devices())); err != nil {
		return usageErrorf("simulate: %v", err)
	}
	if n := len(fleet.Devices()); n >= simulator.BudgetFrom && sys.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(simulator.MemoryBudget(n)))
	}
	if opts.For > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.For)
		defer cancel()
	}
	how := "as itself"
	if cfg.Conn.Username != "" {
		how = "as " + cfg.Conn.Username
	} else if cfg.Conn.Password == "" {
		how = "without a password"
	}
	where := cfg.Conn.Broker
	if len(cfg.Endpoints) > 0 {
		where = strings.Join(cfg.Endpoints, ", ")
	}
	fmt.Fprintf(sys.Stderr, "simulate: %d devices (%s...) on %s %s, connecting to %s %s\n",
		len(fleet.Devices()), fleet.Devices()[0].ID, opts.Package, opts.Version, where, how)
	if len(cfg.Failures) > 0 {
		fmt.Fprintf(sys.Stderr, "simulate: injecting failures %s\n", cfg.Failures)
	}

	done := make(chan error, 1)
	go func() { done <- fleet.Run(ctx) }()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last := ""
	for {
		select {
		case err := <-done:
			line := simStatusLine(fleet.Status())
			fmt.Fprintf(sys.Stderr, "simulate: stopped: %s\n", line)
			if err := out.result(err); err != nil {
				return err
			}
			return writeSimEnd(sys, opts, fleet)
		case <-tick.C:
			if line := simStatusLine(fleet.Status()); line != last {
				fmt.Fprintf(sys.Stderr, "simulate: %s\n", line)
				last = line
			}
		}
	}
}

// simStatusLine is the fleet's counts in one line: "1.0.0 idle 90 · 1.1.0
// updating 10".
func simStatusLine(counts []simulator.Count) string {
	var parts []string
	for _, c := range counts {
		parts = append(parts, fmt.Sprintf("%s %s %d", c.Version, c.Phase, c.Devices))
	}
	return strings.Join(parts, " · ")
}

// writeSimEnd prints the fleet's load figures (on standard error, or as
// the last JSON line with -o json) and, without -v or -o json, its status
// table.
func writeSimEnd(sys *System, opts *simulateOptions, fleet *simulator.Fleet) error {
	sum := fleet.Stats()
	if opts.Output == "json" {
		return writeSimSummaryJSON(sys.Stdout, sum)
	}
	writeSimFigures(sys.Stderr, "simulate: ", sum)
	if opts.Verbose {
		return nil
	}
	return writeSimStatus(sys.Stdout, fleet.Status())
}

func writeSimStatus(w io.Writer, counts []simulator.Count) error {
	rows := [][]string{{"VERSION", "PHASE", "DEVICES"}}
	for _, c := range counts {
		rows = append(rows, []string{c.Version, c.Phase, fmt.Sprint(c.Devices)})
	}
	for _, r := range rows {
		if _, err := fmt.Fprintln(w, strings.Join(r, "\t")); err != nil {
			return err
		}
	}
	return nil
}

// simEvents prints the devices' events: JSON lines with -o json, tab
// separated lines with -v, else only errors, at most one a second, on
// standard error.
type simEvents struct {
	sys       *System
	out       *streamOut
	json      bool
	verbose   bool
	mu        sync.Mutex
	lastError time.Time
	dropped   int
}

func newSimEvents(sys *System, opts *simulateOptions, out *streamOut) *simEvents {
	return &simEvents{sys: sys, out: out, json: opts.Output == "json", verbose: opts.Verbose}
}

func (s *simEvents) add(e simulator.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.json:
		e.Time = output.Time(e.Time)
		s.out.check(writeJSON(s.sys.Stdout, "simulate-event", e))
	case s.verbose:
		_, err := fmt.Fprintf(s.sys.Stdout, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339Nano), e.Device, e.Kind,
			e.State, e.Reason, text.Dash(e.Version), text.Dash(e.Target), e.Detail)
		s.out.check(err)
	case e.Kind == simulator.EventError || e.Kind == simulator.EventKeySetRefused:
		if time.Since(s.lastError) < time.Second {
			s.dropped++
			return
		}
		more := ""
		if s.dropped > 0 {
			more = fmt.Sprintf(" (and %d more errors)", s.dropped)
		}
		fmt.Fprintf(s.sys.Stderr, "simulate: %s: %s%s\n", e.Device, e.Detail, more)
		s.lastError, s.dropped = time.Now(), 0
	}
}
