package commands

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/simulator"
	"github.com/otactl/otactl/upload"
)

type demoOptions struct {
	Devices int
	Keep    bool
	Fail    string
	Timeout time.Duration
	Output  string
}

func newDemoCommand(sys *System) *cli.Command {
	opts := &demoOptions{}
	return &cli.Command{
		Name:      "demo",
		Usage:     "see a whole rollout in one command: broker, simulated fleet, signed release, canary, fleet",
		UsageText: "otactl demo [--devices 20] [--fail integrity=10%] [--timeout 2m] [--keep] [-o json]",
		Description: `Starts an embedded MQTT broker on a free loopback port, a temporary
signing key (your keyring is never touched) and a simulated fleet on
firmware 1.0.0; builds a small firmware image with an MCUboot header saying
1.1.0, creates and signs release 1.1.0, publishes it to a 10% canary, waits
for the canary, publishes it to the fleet and follows the rollout until
every device runs 1.1.0: live on a terminal, as progress lines otherwise.
It prints the otactl command that does each step.

It exits as 'otactl rollout wait' does: 0 when every device updated, 4 when
a device failed (try --fail integrity=10%), 5 when --timeout passed.
Everything it made is removed when it ends; --keep leaves the broker and the
devices running until Ctrl-C and says how to connect to them. With -o json
it prints one JSON object at the end: the release and the verdicts of the
canary and the fleet, as 'otactl rollout wait -o json' gives them.

Example:
   $ otactl demo
   $ otactl demo --devices 100 --keep`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "devices", Aliases: []string{"n"}, Usage: "how many simulated devices", Value: 20, Destination: &opts.Devices},
			&cli.BoolFlag{Name: "keep", Usage: "leave the broker and the devices running afterwards, until Ctrl-C", Destination: &opts.Keep},
			&cli.StringFlag{Name: "fail", Usage: "inject device failures, as 'otactl simulate --fail': `KIND=P%`,...", Destination: &opts.Fail},
			&cli.DurationFlag{Name: "timeout", Usage: "give up on each stage after `DURATION` (exit 5)", Value: 2 * time.Minute, Destination: &opts.Timeout},
			outputFlag(&opts.Output),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("demo: unexpected argument %q\nhint: run 'otactl demo --help'", c.Args().First())
			}
			if opts.Devices < 1 || opts.Devices > 10000 {
				return usageErrorf("demo: --devices %d: want 1 to 10000", opts.Devices)
			}
			if opts.Timeout <= 0 {
				return usageErrorf("demo: --timeout must be positive")
			}
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			return demoRun(c.Context, sys, opts)
		},
	}
}

const (
	demoPackage     = "main"
	demoOldVersion  = "1.0.0"
	demoNewVersion  = "1.1.0"
	demoImageBody   = 48 << 10
	demoIDPrefix    = "demo-"
	demoCanaryShare = 10 // percent
)

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

func demoRun(ctx context.Context, sys *System, opts *demoOptions) (err error) {
	start := time.Now()
	failures, err := simulator.ParseFailures(opts.Fail)
	if err != nil {
		return usageErrorf("demo: --fail: %v", err)
	}
	say := func(format string, args ...any) { fmt.Fprintf(sys.Stderr, "demo: "+format+"\n", args...) }
	cmd := func(format string, args ...any) { fmt.Fprintf(sys.Stderr, "  $ otactl "+format+"\n", args...) }

	dir, err := os.MkdirTemp("", "otactl-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)

	// 1. A broker of our own, on loopback, with a data folder.
	b, err := broker.Start(ctx, broker.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "broker")})
	if err != nil {
		return err
	}
	defer b.Close()
	say("broker listening on %s (data in %s)", b.URL(), filepath.Join(dir, "broker"))
	dial := func(ctx context.Context) (*upload.Client, error) {
		return upload.Connect(ctx, upload.Options{Broker: b.URL()})
	}

	// 2. A signing key for this run only, and a firmware image.
	signer, err := keys.GenerateKey(keys.AlgEd25519)
	if err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "demo-key.pem")
	pemBytes, err := keys.MarshalPrivatePEM(signer)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pemBytes, 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	pubPEM, err := keys.ExportPublic(signer.Public(), "pem", "demo")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "demo-key.pub.pem"), pubPEM, 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	keyID, err := release.KeyID(signer.Public())
	if err != nil {
		return err
	}
	image := filepath.Join(dir, "zephyr.signed.bin")
	if err := os.WriteFile(image, demoImage(), 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	say("signing key %s (ed25519, a temporary file, not your keyring); firmware image with an MCUboot header, version %s", keyID, demoNewVersion)

	// 3. The simulated fleet on 1.0.0, trusting that key.
	fleetCtx, stopFleet := context.WithCancel(ctx)
	defer stopFleet()
	sim, err := simulator.New(simulator.Config{
		Conn:     upload.Options{Broker: b.URL()},
		Devices:  opts.Devices,
		IDPrefix: demoIDPrefix,
		Package:  demoPackage,
		Version:  demoOldVersion,
		Keys:     []crypto.PublicKey{signer.Public()},
		Failures: failures,
		Jitter:   time.Second,
		Reboot:   500 * time.Millisecond,
		Encoding: "mixed",
		KeyNames: "mixed",
		Seed:     1,
		Now:      sys.Now,
	})
	if err != nil {
		return err
	}
	var fleetErr error
	fleetDone := make(chan struct{})
	go func() {
		fleetErr = sim.Run(fleetCtx)
		close(fleetDone)
	}()
	defer func() {
		stopFleet()
		<-fleetDone
	}()
	select {
	case <-sim.Ready():
	case <-fleetDone:
		if fleetErr == nil {
			return ctx.Err()
		}
		return fmt.Errorf("demo: the simulated fleet stopped: %w", fleetErr)
	case <-ctx.Done():
		return ctx.Err()
	}
	say("%d simulated devices (%s to %s) run %s %s and trust key %s", opts.Devices,
		sim.Devices()[0].ID, sim.Devices()[opts.Devices-1].ID, demoPackage, demoOldVersion, keyID)
	cmd("simulate --devices %d --id-prefix %s --pubkey demo-key.pub.pem", opts.Devices, demoIDPrefix)

	// 4. The release: the version comes from the image's MCUboot header.
	m, warnings, err := release.Create(ctx, release.CreateOptions{
		Specs:       []release.Spec{{Package: demoPackage, Path: image}},
		DefaultType: "mcuboot",
		Now:         sys.Now(),
		Expires:     "24h",
	})
	if err != nil {
		return err
	}
	for _, w := range warnings {
		say("warning: %s", w)
	}
	if err := m.Sign(signer); err != nil {
		return err
	}
	payload, err := release.EncodeJSON(m)
	if err != nil {
		return err
	}
	say("release %s %s, sequence %d, signed, expires %s", demoPackage, m.Components[0].Version, m.SequenceNumber, m.Expires)
	cmd("release create -c main=zephyr.signed.bin --type mcuboot --expires 24h --sign file:demo-key.pem --out release.json")

	client, err := dial(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	topics := client.Topics()
	plan := &publish.Plan{Manifest: m, Payload: payload, Encoding: "json", Files: map[string]string{demoPackage: image}}

	// 5. The canary: the first 10% of the devices.
	ids := make([]string, 0, opts.Devices)
	for _, d := range sim.Devices() {
		ids = append(ids, d.ID)
	}
	canary := ids[:max(1, (len(ids)*demoCanaryShare+99)/100)]
	for _, id := range canary {
		topic, err := topics.Device(id)
		if err != nil {
			return err
		}
		plan.Targets = append(plan.Targets, publish.Target{Kind: protocol.Device, Name: id, Topic: topic})
	}
	say("publishing to the canary: %d of %d devices", len(canary), len(ids))
	cmd("release publish release.json zephyr.signed.bin --device %s", firstAndMore(canary))
	jsonOut := opts.Output == "json"
	if _, err := publishRelease(ctx, sys, client, plan, jsonOut); err != nil {
		return err
	}
	version := m.Components[0].Version
	summary := &demoSummary{Devices: opts.Devices, Package: demoPackage, Version: version, SequenceNumber: m.SequenceNumber,
		KeyID: keyID, Canary: canary}
	// With -o json each rollout wait writes its verdict into the summary,
	// which is printed however the demo ends.
	waitSys := func(into *json.RawMessage) *System {
		if !jsonOut {
			return sys
		}
		s := *sys
		s.Stdout = &rawJSON{into: into}
		return &s
	}
	if jsonOut {
		defer func() {
			summary.OK = err == nil
			if werr := writeJSON(sys.Stdout, summary); err == nil {
				err = werr
			}
		}()
	}
	cmd("rollout wait --version %s --device %s", version, firstAndMore(canary))
	if err := rolloutWaitRun(ctx, waitSys(&summary.CanaryVerdict), &rolloutWaitOptions{
		Version: version, Package: demoPackage, Devices: canary, Output: opts.Output,
		MinUpdated: "100%", MaxFailed: "0", Timeout: opts.Timeout, Stale: fleet.DefaultStale,
	}, dial); err != nil {
		return fmt.Errorf("demo: canary: %w", err)
	}

	// 6. The whole fleet.
	plan.Targets = []publish.Target{{Kind: protocol.Fleet, Topic: topics.Fleet()}}
	say("canary done: publishing to the fleet")
	cmd("release publish release.json")
	if _, err := publishRelease(ctx, sys, client, plan, jsonOut); err != nil {
		return err
	}
	cmd("rollout wait --version %s --expect %d", version, opts.Devices)
	wait := &rolloutWaitOptions{
		Version: version, Package: demoPackage, Expect: opts.Devices, Output: opts.Output,
		MinUpdated: "100%", MaxFailed: "0", Timeout: opts.Timeout, Stale: fleet.DefaultStale,
	}
	if sys.StdoutTTY && sys.StderrTTY && !jsonOut {
		err = demoWatchLive(ctx, sys, wait, dial)
	} else {
		err = rolloutWaitRun(ctx, waitSys(&summary.FleetVerdict), wait, dial)
	}
	if err != nil {
		return fmt.Errorf("demo: fleet: %w", err)
	}
	say("all %d updated: every device runs %s %s (canary of %d, then the fleet) in %s",
		opts.Devices, demoPackage, version, len(canary), time.Since(start).Round(time.Second))

	if opts.Keep {
		return demoKeep(ctx, sys, b, dir, keyFile)
	}
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
		watched <- watchRun(context.WithoutCancel(ctx), sys, &watchOptions{Filters: fleetFilterOptions{Package: demoPackage, Stale: fleet.DefaultStale}}, watchDial)
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
	said := &fleetBuffer{}
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

// demoKeep leaves the broker and the devices running until ctx ends, and
// says how to reach them.
func demoKeep(ctx context.Context, sys *System, b *broker.Broker, dir, keyFile string) error {
	host, port, err := net.SplitHostPort(b.Addr())
	if err != nil {
		return err
	}
	fmt.Fprintf(sys.Stderr, `
The broker and the simulated devices keep running until Ctrl-C.
  export OTACTL_BROKER=%s
  otactl watch
  otactl release list
  mosquitto_sub -h %s -p %s -t 'devices/+/.u/c/+' -v
  mosquitto_sub -h %s -p %s -t '.u/desired' -C 1
The signing key is %s: create and publish another release with
  otactl release create -c main@1.2.0=FILE --sign file:%s --out r.json
  otactl release publish r.json FILE
`, b.URL(), host, port, host, port, keyFile, keyFile)
	<-ctx.Done()
	fmt.Fprintln(sys.Stderr, "demo: stopped; removing", dir)
	return nil
}

// firstAndMore is the first id of a list, with "..." when more follow.
func firstAndMore(ids []string) string {
	if len(ids) > 1 {
		return ids[0] + " ..."
	}
	return ids[0]
}

// demoImage is a small firmware image: an MCUboot header saying 1.1.0 and
// a body of fixed pseudo-random bytes.
func demoImage() []byte {
	hdr := release.EncodeImageHeader(release.ImageHeader{
		HeaderSize: release.ImageHeaderSize,
		ImageSize:  demoImageBody,
		Major:      1, Minor: 1, Revision: 0,
	})
	img := make([]byte, 0, len(hdr)+demoImageBody)
	img = append(img, hdr...)
	r := rand.New(rand.NewPCG(1, 1))
	for len(img) < cap(img) {
		img = append(img, byte(r.Uint32()))
	}
	return img
}
