package commands

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/demo"
	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/syncbuf"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/rollout"
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
firmware 1.0.0; publishes signed release 1.0.0 to the fleet (what the
devices run, and what a failed stage restores); builds a small firmware
image with an MCUboot header saying 1.1.0, creates and signs release
1.1.0 and rolls it out as 'otactl rollout start --steps 10%,100%
--on-failure halt' does: a 10% canary, its gate, then the fleet, live on
a terminal, as the rollout's lines otherwise. It prints the otactl
command that does each step.

It exits as 'otactl rollout start' does: 0 when every device updated, 4
when a stage's gate failed (the rollout halts and publishes release 1.0.0
again, signed, to the stage's devices not updated: try --fail
integrity=30%), 5 when --timeout passed. A device that fails an attempt
reports it as the Golioth SDK does and tries again later (at most 3
attempts): the gate counts it as failed.
Everything it made is removed when it ends; --keep leaves the broker and the
devices running until Ctrl-C and says how to connect to them. With -o json
it prints one JSON object at the end: the release, the canary and the
rollout's final state ("rollout", as retained at .u/rollout/state).

Example:
   $ otactl demo
   $ otactl demo --devices 100 --keep
   $ otactl demo --fail integrity=30%`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "devices", Aliases: []string{"n"}, Usage: "how many simulated devices", Value: 20, Destination: &opts.Devices},
			&cli.BoolFlag{Name: "keep", Usage: "leave the broker and the devices running afterwards, until Ctrl-C", Destination: &opts.Keep},
			&cli.StringFlag{Name: "fail", Usage: "inject device failures, as 'otactl simulate --fail': `KIND=P%`,...", Destination: &opts.Fail},
			&cli.Int64Flag{Name: "seed", Usage: "seed of the injected failures and the devices' jitter", Value: 1, Destination: &opts.Seed},
			&cli.DurationFlag{Name: "timeout", Usage: "the rollout's deadline: give up after `DURATION` (exit 5)", Value: 2 * time.Minute, Destination: &opts.Timeout},
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
	OK             bool           `json:"ok"`
	Devices        int            `json:"devices"`
	Package        string         `json:"package"`
	Version        string         `json:"version"`
	SequenceNumber int64          `json:"sequenceNumber"`
	KeyID          string         `json:"keyid"`
	Canary         []string       `json:"canary"`
	Rollout        *rollout.State `json:"rollout,omitempty"`
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
	d.summary = &demoSummary{Devices: opts.Devices, Package: demo.Package, Version: d.version(),
		SequenceNumber: d.plan.Manifest.SequenceNumber, KeyID: lab.KeyID, Canary: append([]string{}, canary...)}
	if d.jsonOut {
		// The summary is printed however the demo ends.
		defer func() {
			d.summary.OK = err == nil
			if werr := writeJSON(sys.Stdout, "demo", d.summary); err == nil {
				err = werr
			}
		}()
	}
	d.say("rolling out: to the canary, %d of %d devices (%d%%), then the fleet; a failed stage halts it and restores %s %s", len(canary), opts.Devices, demo.CanaryShare, demo.Package, demo.OldVersion)
	d.cmd("rollout start release.json zephyr.signed.bin --steps %d%%,100%% --on-failure halt --sign file:demo-key.pem", demo.CanaryShare)
	if err := d.rollout(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
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

// release connects, publishes the release the fleet runs (the one a
// failed stage restores) to the fleet, and creates and signs the new one.
func (d *demoSteps) release(ctx context.Context) error {
	var err error
	if d.client, err = d.lab.Dial(ctx); err != nil {
		return err
	}
	prev, prevPayload, prevImage, err := d.lab.PreviousRelease(ctx, d.sys.Now())
	if err != nil {
		return err
	}
	d.say("release %s %s, sequence %d: what the devices run, published to the fleet and the catalog", demo.Package, demo.OldVersion, prev.SequenceNumber)
	d.cmd("release publish release-%s.json zephyr-%s.signed.bin", demo.OldVersion, demo.OldVersion)
	fleetTarget := []publish.Target{{Kind: protocol.Fleet, Topic: d.client.Topics().Fleet()}}
	if _, err := publishRelease(ctx, d.sys, d.client, &publish.Plan{Manifest: prev, Payload: prevPayload, Encoding: "json",
		Files: map[string]string{demo.Package: prevImage}, Targets: fleetTarget}, true); err != nil {
		return err
	}
	m, payload, warnings, err := d.lab.Release(ctx, d.sys.Now())
	if err != nil {
		return err
	}
	for _, w := range warnings {
		d.say("warning: %s", w)
	}
	d.say("release %s %s, sequence %d, signed, expires %s", demo.Package, m.Components[0].Version, m.SequenceNumber, m.Expires)
	d.cmd("release create -c main=zephyr.signed.bin --type mcuboot --expires 24h --sign file:demo-key.pem --out release.json")
	d.plan = &publish.Plan{Manifest: m, Payload: payload, Encoding: "json", Files: map[string]string{demo.Package: d.lab.Image}}
	return nil
}

// version is the version released.
func (d *demoSteps) version() string { return d.plan.Manifest.Components[0].Version }

// rollout runs the staged rollout (package rollout): the canary, then the
// fleet, halting on a failed gate. On a terminal the fleet is shown live
// meanwhile, and what the rollout said comes after.
func (d *demoSteps) rollout(ctx context.Context) error {
	steps, err := rollout.ParseSteps(fmt.Sprintf("%d%%,100%%", demo.CanaryShare))
	if err != nil {
		return err
	}
	req := rollout.Request{Plan: d.plan, Steps: steps, Gate: fleet.Gate{MinUpdated: 1}, OnFailure: rollout.OnFailureHalt,
		Deadline: time.Now().Add(d.opts.Timeout), Signers: []crypto.Signer{d.lab.Signer},
		Trust: publish.TrustPolicy{Keys: []crypto.PublicKey{d.lab.Signer.Public()}}, Owner: "otactl demo", Lease: rollout.DefaultLease}
	run := func(sys *System, live bool) error {
		r := newRolloutRunner(sys, d.client, nil, &rolloutRunOptions{Stale: fleet.DefaultStale}, "", nil)
		r.Publisher = newPublisher(sys, d.client, d.jsonOut || live)
		r.Observe = func(e rollout.Event) {
			if !d.jsonOut && !(live && e.Kind == rollout.EventGate) {
				renderRolloutEvent(sys, "", e, nil)
			}
		}
		st, err := r.Run(ctx, req)
		d.summary.Rollout = stateDocument(st)
		return err
	}
	if d.sys.StdoutTTY && d.sys.StderrTTY && !d.jsonOut {
		return demoWatchLive(ctx, d.sys, func(quiet *System) error { return run(quiet, true) }, d.lab.Dial)
	}
	return run(d.sys, false)
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

// demoWatchLive shows 'otactl watch' live while decide, quiet, runs the
// rollout; the view stays a moment on the final picture, and what decide
// said comes after it.
func demoWatchLive(ctx context.Context, sys *System, decide func(quiet *System) error, dial dialer) error {
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
	// The rollout's messages are kept until the live view has left the
	// screen.
	quiet := *sys
	said := &syncbuf.Buffer{}
	quiet.Stdout, quiet.Stderr = said, said
	quiet.StdoutTTY, quiet.StderrTTY = false, false
	verdict := make(chan error, 1)
	go func() { verdict <- decide(&quiet) }()
	select {
	case err := <-verdict:
		select {
		case <-time.After(2 * time.Second):
		case <-watchDone:
		}
		stopWatch()
		<-watchDone
		fmt.Fprint(sys.Stderr, said.String())
		return err
	case err := <-watched:
		// The user left the live view (q) or interrupted it.
		if err != nil {
			return err
		}
		return <-verdict
	}
}
