package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/demo"
	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/syncbuf"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/simulator"
	"github.com/otactl/otactl/upload"
)

type demoOptions struct {
	Devices int
	Keep    bool
	Fail    string
	Seed    int64
	Timeout time.Duration
	Output  string

	failures simulator.Failures // --fail, checked
}

func newDemoCommand(sys *System) *cli.Command {
	opts := &demoOptions{}
	return &cli.Command{
		Name:      "demo",
		Usage:     "see a whole rollout in one command: broker, simulated fleet, signed release, canary, fleet",
		UsageText: "otactl demo [--devices 20] [--fail integrity=10%] [--seed N] [--timeout 2m] [--keep] [-o json]",
		Description: `Starts an embedded MQTT broker on a free loopback port, a temporary
signing key (your keyring is never touched) and a simulated fleet on
firmware 1.0.0; builds a small firmware image with an MCUboot header saying
1.1.0, creates and signs release 1.1.0, publishes it to a 10% canary, waits
for the canary, publishes it to the fleet and follows the rollout until
every device runs 1.1.0: live on a terminal, as progress lines otherwise.
It prints the otactl command that does each step.

It exits as 'otactl rollout wait' does: 0 when every device updated, 4 when
a device failed (try --fail integrity=20% --seed 1), 5 when --timeout
passed. A device that fails an attempt reports it as the Golioth SDK does
and tries again later (at most 3 attempts): the live view shows it as
retrying, and the gate counts it as failed.
Everything it made is removed when it ends; --keep leaves the broker and the
devices running until Ctrl-C and says how to connect to them. With -o json
it prints one JSON object at the end: the release and the verdicts of the
canary and the fleet, as 'otactl rollout wait -o json' gives them.

Example:
   $ otactl demo
   $ otactl demo --devices 100 --keep
   $ otactl demo --fail integrity=20% --seed 1`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "devices", Aliases: []string{"n"}, Usage: "how many simulated devices", Value: 20, Destination: &opts.Devices},
			&cli.BoolFlag{Name: "keep", Usage: "leave the broker and the devices running afterwards, until Ctrl-C", Destination: &opts.Keep},
			&cli.StringFlag{Name: "fail", Usage: "inject device failures, as 'otactl simulate --fail': `KIND=P%`,...", Destination: &opts.Fail},
			&cli.Int64Flag{Name: "seed", Usage: "seed of the injected failures and the devices' jitter", Value: 1, Destination: &opts.Seed},
			&cli.DurationFlag{Name: "timeout", Usage: "give up on each stage after `DURATION` (exit 5)", Value: 2 * time.Minute, Destination: &opts.Timeout},
			outputFlag(&opts.Output),
		},
		Action: runWithoutArgs("demo", "run 'otactl demo --help'", func(ctx context.Context) error {
			if opts.Devices < 1 || opts.Devices > 10000 {
				return usageErrorf("demo: --devices %d: want 1 to 10000", opts.Devices)
			}
			if opts.Timeout <= 0 {
				return usageErrorf("demo: --timeout must be positive")
			}
			var err error
			if opts.failures, err = simulator.ParseFailures(opts.Fail); err != nil {
				return usageErrorf("demo: --fail: %v", err)
			}
			return demoRun(ctx, sys, opts)
		}),
	}
}

// demoSummary is what 'demo -o json' prints.
type demoSummary struct {
	OK             bool            `json:"ok"`
	Devices        int             `json:"devices"`
	Package        string          `json:"package"`
	Version        string          `json:"version"`
	SequenceNumber int64           `json:"sequenceNumber"`
	KeyID          string          `json:"keyid"`
	Canary         []string        `json:"canary"`
	CanaryVerdict  json.RawMessage `json:"canaryVerdict,omitempty"`
	FleetVerdict   json.RawMessage `json:"fleetVerdict,omitempty"`
}

// rawJSON keeps the JSON object a command writes to its standard output.
type rawJSON struct{ into *json.RawMessage }

func (r *rawJSON) Write(p []byte) (int, error) {
	*r.into = append(*r.into, bytes.TrimSpace(p)...)
	return len(p), nil
}

// demoSteps runs the demo's steps in its lab and says what each does, with
// the otactl command that does it.
type demoSteps struct {
	sys     *System
	opts    *demoOptions
	lab     *demo.Lab
	jsonOut bool
	client  *upload.Client
	plan    *publish.Plan
	summary *demoSummary
}

func (d *demoSteps) say(format string, args ...any) {
	fmt.Fprintf(d.sys.Stderr, "demo: "+format+"\n", args...)
}

func (d *demoSteps) cmd(format string, args ...any) {
	fmt.Fprintf(d.sys.Stderr, "  $ otactl "+format+"\n", args...)
}

func demoRun(ctx context.Context, sys *System, opts *demoOptions) (err error) {
	start := time.Now()
	lab, err := demo.Open(ctx)
	if err != nil {
		return err
	}
	defer lab.Close()
	d := &demoSteps{sys: sys, opts: opts, lab: lab, jsonOut: opts.Output == "json"}
	d.say("broker listening on %s (data in %s)", lab.Broker.URL(), lab.BrokerData())
	if err := d.startFleet(ctx, opts.failures); err != nil {
		return err
	}
	if err := d.release(ctx); err != nil {
		return err
	}
	defer d.client.Close()
	canary := demo.Canary(d.lab.IDs())
	if err := d.publishCanary(ctx, canary); err != nil {
		return err
	}
	d.summary = &demoSummary{Devices: opts.Devices, Package: demo.Package, Version: d.version(),
		SequenceNumber: d.plan.Manifest.SequenceNumber, KeyID: lab.KeyID, Canary: canary}
	if d.jsonOut {
		// Each rollout wait writes its verdict into the summary, which is
		// printed however the demo ends.
		defer func() {
			d.summary.OK = err == nil
			if werr := writeJSON(sys.Stdout, d.summary); err == nil {
				err = werr
			}
		}()
	}
	if err := d.waitCanary(ctx, canary); err != nil {
		return fmt.Errorf("demo: canary: %w", err)
	}
	if err := d.rollOutToFleet(ctx); err != nil {
		return fmt.Errorf("demo: fleet: %w", err)
	}
	d.say("all %d updated: every device runs %s %s (canary of %d, then the fleet) in %s",
		opts.Devices, demo.Package, d.version(), len(canary), time.Since(start).Round(time.Second))
	if opts.Keep {
		return d.keep(ctx)
	}
	return nil
}

// startFleet makes the key and the image, and starts the fleet on the old
// version, trusting the key.
func (d *demoSteps) startFleet(ctx context.Context, failures simulator.Failures) error {
	if err := d.lab.MakeKey(); err != nil {
		return err
	}
	d.say("signing key %s (ed25519, a temporary file, not your keyring); firmware image with an MCUboot header, version %s", d.lab.KeyID, demo.NewVersion)
	if err := d.lab.StartFleet(ctx, d.opts.Devices, failures, d.opts.Seed, d.sys.Now); err != nil {
		return err
	}
	ids := d.lab.IDs()
	d.say("%d simulated devices (%s to %s) run %s %s and trust key %s", d.opts.Devices,
		ids[0], ids[len(ids)-1], demo.Package, demo.OldVersion, d.lab.KeyID)
	d.cmd("simulate --devices %d --id-prefix %s --pubkey demo-key.pub.pem", d.opts.Devices, demo.IDPrefix)
	return nil
}

// release creates and signs the release and connects to publish it.
func (d *demoSteps) release(ctx context.Context) error {
	m, payload, warnings, err := d.lab.Release(ctx, d.sys.Now())
	if err != nil {
		return err
	}
	for _, w := range warnings {
		d.say("warning: %s", w)
	}
	d.say("release %s %s, sequence %d, signed, expires %s", demo.Package, m.Components[0].Version, m.SequenceNumber, m.Expires)
	d.cmd("release create -c main=zephyr.signed.bin --type mcuboot --expires 24h --sign file:demo-key.pem --out release.json")
	if d.client, err = d.lab.Dial(ctx); err != nil {
		return err
	}
	d.plan = &publish.Plan{Manifest: m, Payload: payload, Encoding: "json", Files: map[string]string{demo.Package: d.lab.Image}}
	return nil
}

// version is the version released.
func (d *demoSteps) version() string { return d.plan.Manifest.Components[0].Version }

// publishCanary publishes the release to each device of the canary.
func (d *demoSteps) publishCanary(ctx context.Context, canary []string) error {
	for _, id := range canary {
		topic, err := d.client.Topics().Device(id)
		if err != nil {
			return err
		}
		d.plan.Targets = append(d.plan.Targets, publish.Target{Kind: protocol.Device, Name: id, Topic: topic})
	}
	d.say("publishing to the canary: %d of %d devices", len(canary), d.opts.Devices)
	d.cmd("release publish release.json zephyr.signed.bin --device %s", firstAndMore(canary))
	_, err := publishRelease(ctx, d.sys, d.client, d.plan, d.jsonOut)
	return err
}

// waitCanary waits until every device of the canary runs the release.
func (d *demoSteps) waitCanary(ctx context.Context, canary []string) error {
	d.cmd("rollout wait --version %s --device %s", d.version(), firstAndMore(canary))
	return rolloutWaitRun(ctx, d.verdictTo(&d.summary.CanaryVerdict), d.waitOptions(canary, 0), d.lab.Dial)
}

// rollOutToFleet publishes the release to the fleet and follows it until
// every device runs it: live on a terminal.
func (d *demoSteps) rollOutToFleet(ctx context.Context) error {
	d.plan.Targets = []publish.Target{{Kind: protocol.Fleet, Topic: d.client.Topics().Fleet()}}
	d.say("canary done: publishing to the fleet")
	d.cmd("release publish release.json")
	if _, err := publishRelease(ctx, d.sys, d.client, d.plan, d.jsonOut); err != nil {
		return err
	}
	d.cmd("rollout wait --version %s --expect %d", d.version(), d.opts.Devices)
	wait := d.waitOptions(nil, d.opts.Devices)
	if d.sys.StdoutTTY && d.sys.StderrTTY && !d.jsonOut {
		return demoWatchLive(ctx, d.sys, wait, d.lab.Dial)
	}
	return rolloutWaitRun(ctx, d.verdictTo(&d.summary.FleetVerdict), wait, d.lab.Dial)
}

// waitOptions are rollout wait's for the devices named, or for expect
// devices: all of them must update, none may fail.
func (d *demoSteps) waitOptions(devices []string, expect int) *rolloutWaitOptions {
	return &rolloutWaitOptions{
		Version: d.version(), Package: demo.Package, Devices: devices, Output: d.opts.Output,
		gateOptions: gateOptions{Expect: expect, MinUpdated: "100%", MaxFailed: "0", Timeout: d.opts.Timeout, Stale: fleet.DefaultStale},
	}
}

// verdictTo is the System a rollout wait runs with: with -o json its
// verdict goes into the summary instead of standard output.
func (d *demoSteps) verdictTo(into *json.RawMessage) *System {
	if !d.jsonOut {
		return d.sys
	}
	s := *d.sys
	s.Stdout = &rawJSON{into: into}
	return &s
}

// keep leaves the broker and the devices running until ctx ends, and says
// how to reach them.
func (d *demoSteps) keep(ctx context.Context) error {
	note, err := d.lab.KeepNote()
	if err != nil {
		return err
	}
	fmt.Fprint(d.sys.Stderr, note)
	<-ctx.Done()
	fmt.Fprintln(d.sys.Stderr, "demo: stopped; removing", d.lab.Dir)
	return nil
}

// demoWatchLive shows 'otactl watch' live while 'otactl rollout wait',
// quiet, decides; the view stays a moment on the final picture.
func demoWatchLive(ctx context.Context, sys *System, wait *rolloutWaitOptions, dial dialer) error {
	// The view is ended by closing its connection, which ends it the way a
	// broken subscription does: the terminal is given back in order. (Ending
	// it by its context kills it while it still reads the keyboard.)
	var (
		mu      sync.Mutex
		watchC  *upload.Client
		stopped bool
	)
	watchDial := func(ctx context.Context) (*upload.Client, error) {
		c, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			c.Close()
			return nil, errors.New("demo: stopped")
		}
		watchC = c
		return c, nil
	}
	stopWatch := func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		if watchC != nil {
			watchC.Close()
		}
	}
	watched := make(chan error, 1)
	watchDone := make(chan struct{})
	go func() {
		// Not ctx: an interrupt ends the view by its connection too.
		watched <- watchRun(context.WithoutCancel(ctx), sys, &watchOptions{fleetViewOptions: fleetViewOptions{Filters: fleetFilterOptions{Package: demo.Package, Stale: fleet.DefaultStale}}}, watchDial)
		close(watchDone)
	}()
	go func() {
		select {
		case <-ctx.Done():
			stopWatch()
		case <-watchDone:
		}
	}()
	// rollout wait's messages are kept until the live view has left the
	// screen; its progress lines are dropped.
	quiet := *sys
	said := &syncbuf.Buffer{}
	quiet.Stderr = said
	quiet.StderrTTY = false
	verdict := make(chan error, 1)
	go func() { verdict <- rolloutWaitRun(ctx, &quiet, wait, dial) }()
	select {
	case err := <-verdict:
		select {
		case <-time.After(2 * time.Second):
		case <-watchDone:
		}
		stopWatch()
		<-watchDone
		progress := wait.Package + " " + wait.Version + ": "
		for _, line := range strings.SplitAfter(said.String(), "\n") {
			if line != "" && !strings.HasPrefix(line, progress) {
				fmt.Fprint(sys.Stderr, line)
			}
		}
		return err
	case err := <-watched:
		// The user left the live view (q) or interrupted it.
		if err != nil {
			return err
		}
		return <-verdict
	}
}

// firstAndMore is the first id of a list, with "..." when more follow.
func firstAndMore(ids []string) string {
	if len(ids) > 1 {
		return ids[0] + " ..."
	}
	return ids[0]
}
