package commands

import (
	"context"
	"crypto"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/profile"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

type releasePublishOptions struct {
	Conn         connectOptions
	Targets      targetOptions
	File         string
	Artifacts    []string
	ArtifactsDir string
	Encoding     string
	Pubkeys      cli.StringSlice
	Threshold    int
	Force        bool
	DryRun       bool
	MaxPayload   string
	Output       string
	Strict       strictOption
}

func newReleasePublishCommand(sys *System) *cli.Command {
	opts := &releasePublishOptions{}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "artifacts", Usage: "folder holding the component files", Destination: &opts.ArtifactsDir},
		&cli.StringFlag{Name: "encoding", Usage: "desired manifest encoding: cbor for devices on the current Golioth firmware SDK, json for the seed's format and the SDK up to v0.7.0 (env OTACTL_ENCODING, profile setting encoding)", DefaultText: "json", Destination: &opts.Encoding},
		&cli.StringSliceFlag{Name: "pubkey", Aliases: []string{"p"}, Usage: "trusted public key that must have signed: a PEM `FILE` or keyring NAME (repeatable; default: the profile's)", Destination: &opts.Pubkeys},
		&cli.IntFlag{Name: "threshold", Usage: "valid signatures needed from distinct keys (default 1 with a key)", Destination: &opts.Threshold},
		&cli.BoolFlag{Name: "force", Usage: "publish over a higher or equal sequence number, and replace different artifact bytes", Destination: &opts.Force},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the plan and send nothing", Destination: &opts.DryRun},
		&cli.StringFlag{Name: "max-payload", Usage: "largest message the broker accepts, e.g. 128k or 16M (default: the profile's)", Destination: &opts.MaxPayload},
		strictFlag(&opts.Strict),
		outputFlag(&opts.Output),
	}
	flags = append(flags, targetFlags(&opts.Targets, true)...)
	flags = append(flags, connectFlags(&opts.Conn)...)
	return &cli.Command{
		Name:      "publish",
		Usage:     "publish a release: artifacts, then the desired manifest, each read back",
		UsageText: "otactl release publish MANIFEST [FILE... | --artifacts DIR] [--cohort NAME | --device ID... | --devices-file FILE | --percent N] [--encoding json|cbor] [--pubkey KEY]... [--strict] [--force] [--dry-run] [-o json]",
		Description: `Which encoding devices need (--encoding, env OTACTL_ENCODING, or the
profile setting encoding; default json):
  cbor  devices on the current Golioth firmware SDK, which decodes CBOR only
  json  the seed's format: otactl's simulator, devices of your own, and the
        Golioth SDK up to v0.7.0, the last release with a JSON decoder
A fleet on the current Golioth SDK ignores a JSON manifest: publish its
releases with --encoding cbor, or 'otactl config set encoding cbor'.

Publishes a release, stopping at the first failure:
  1. verifies the manifest: digest, expiry, and signatures when --pubkey is
     given or the profile has require-signatures;
  2. checks every artifact file against its component (size, SHA-256),
     and lints the manifest for devices on the Golioth firmware SDK (see
     docs/protocol.md, "Limits"): each finding is a warning on standard
     error, and with --strict (or OTACTL_STRICT, or the profile's strict)
     it refuses the release, exit 1, with nothing sent;
  3. uploads each artifact not already on the broker with the same bytes,
     and reads every artifact back (a component without a file must already
     be on the broker);
  4. refuses (exit 3) when a target already retains a manifest with a
     sequence number greater than or equal to this one, unless --force
     (the same release already there is left alone);
  5. publishes the desired manifest, retained, to each target and reads it
     back. Each target is watched from step 4 until the run ends: when
     another run publishes a higher sequence there at the same time, this
     one exits 3 (and first puts the higher one back if its own publish
     replaced it);
  6. records the release in the catalog, P.u/releases/SEQUENCE.
A desired manifest is therefore never visible before all its artifacts are,
and a run that died half way finishes the job when run again, without
sending identical bytes twice.

The target is the fleet unless --cohort, --device, --devices-file or
--percent is given. --percent N picks N percent of the devices that retain
a state report, by a stable hash of the device id: raising N keeps the
devices already chosen.

Example:
   $ otactl release publish release.json build/zephyr.signed.bin --device canary-01
   $ otactl release publish release.json --artifacts build/ --percent 10 --pubkey release-key.pub.pem
   $ otactl release publish release.json --encoding cbor --dry-run`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.Args().Len() < 1 {
				return withHint(usageErrorf("release publish: expected a MANIFEST argument"), "otactl release publish release.json build/app.bin")
			}
			if c.IsSet("encoding") && opts.Encoding != "json" && opts.Encoding != "cbor" {
				return usageErrorf("release publish: --encoding must be json or cbor, not %q", opts.Encoding)
			}
			if opts.Threshold < 0 {
				return usageErrorf("release publish: --threshold must not be negative")
			}
			opts.File = c.Args().First()
			opts.Artifacts = c.Args().Tail()
			return releasePublishRun(c.Context, sys, opts)
		},
	}
}

func releasePublishRun(ctx context.Context, sys *System, opts *releasePublishOptions) error {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	plan, err := releasePublishPlan(ctx, sys, cn, opts)
	if err != nil {
		return err
	}
	client, _, err := opts.Conn.open(ctx, sys)
	if err != nil {
		return err
	}
	defer client.Close()
	rep, err := publishRelease(ctx, sys, client, plan, opts.Output == "json")
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		return writeJSON(sys.Stdout, rep)
	}
	return nil
}

// releasePublishPlan maps the flags to a plan, checking the manifest, the
// artifact files and the targets before any network traffic.
func releasePublishPlan(ctx context.Context, sys *System, cn *connection, opts *releasePublishOptions) (*publish.Plan, error) {
	data, err := readInput(sys, opts.File)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := release.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", opts.File, err)
	}
	plan := &publish.Plan{Manifest: m, Force: opts.Force, DryRun: opts.DryRun}
	if plan.Encoding, err = profile.Encoding(opts.Encoding, sys.Getenv, cn.Profile); err != nil {
		return nil, err
	}
	if plan.Strict, err = opts.Strict.resolve(sys, cn.Profile); err != nil {
		return nil, err
	}
	trust, err := trustPolicy(sys, cn, opts.Pubkeys.Value(), opts.Threshold)
	if err == nil {
		err = trust.CheckPublish(ctx, m, sys.Now(), publishObserver(sys, false))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opts.File, err)
	}
	if plan.Payload, err = publish.DesiredPayload(m, data, plan.Encoding); err != nil {
		return nil, err
	}
	if plan.Files, err = publish.MatchFiles(ctx, m, opts.Artifacts, opts.ArtifactsDir); err != nil {
		return nil, err
	}
	if plan.MaxPayload, err = maxPayloadSetting(opts.MaxPayload, cn); err != nil {
		return nil, err
	}
	for _, c := range m.Components {
		if err := publish.CheckPayloadSize(c.Package+"@"+c.Version, c.Size, plan.MaxPayload); err != nil {
			return nil, err
		}
	}
	if plan.Targets, err = opts.Targets.resolve(cn.topics()); err != nil {
		return nil, err
	}
	if opts.Targets.percentSet {
		plan.Percent = opts.Targets.Percent
	}
	return plan, nil
}

// trustPolicy is the trust policy of a command: its --pubkey and
// --threshold flags, and the profile's settings, by publish.ResolveTrust.
func trustPolicy(sys *System, cn *connection, pubkeys []string, threshold int) (publish.TrustPolicy, error) {
	return publish.ResolveTrust(publish.TrustSources{
		Pubkeys: pubkeys, Threshold: threshold,
		Profile: cn.ProfileName, ProfilePubkeys: cn.Profile.Pubkeys, ProfileThreshold: cn.Profile.Threshold,
		RequireSignatures: cn.Profile.RequireSignatures,
	}, func(refs []string) ([]crypto.PublicKey, error) { return resolvePublicKeys(sys, refs) })
}

// publishRelease runs a plan's broker steps on an open connection.
// Progress goes to stdout as it happens unless quiet (JSON output).
func publishRelease(ctx context.Context, sys *System, client *upload.Client, plan *publish.Plan, quiet bool) (*publish.Report, error) {
	return newPublisher(sys, client, quiet).Publish(ctx, plan)
}

// newPublisher is the core on client, rendering its events on sys.
func newPublisher(sys *System, client *upload.Client, quiet bool) *publish.Publisher {
	return &publish.Publisher{
		Broker:  publish.FromClient(client),
		Now:     sys.Now,
		Observe: publishObserver(sys, quiet),
		Hooks: publish.Hooks{
			BeforeDesired: func(ctx context.Context) error { return testDelayBeforeDesired(ctx, sys) },
			BeforeEachDesired: func(topic string) {
				if testHookBeforeDesired != nil {
					testHookBeforeDesired(topic)
				}
			},
		},
	}
}

// publishObserver renders the core's events: progress on stdout unless
// quiet, warnings on stderr, and a line before a large upload when stderr
// is not a terminal (a terminal has the progress bar).
func publishObserver(sys *System, quiet bool) publish.Observer {
	say := func(format string, args ...any) {
		if !quiet {
			fmt.Fprintf(sys.Stdout, format+"\n", args...)
		}
	}
	return func(e publish.Event) {
		switch e := e.(type) {
		case publish.Warning:
			fmt.Fprintf(sys.Stderr, "warning: %s\n", e.Message)
		case publish.ArtifactSending:
			if e.Size >= output.MinProgress && !sys.StderrTTY {
				fmt.Fprintf(sys.Stderr, "uploading %s (%s) to %s\n", e.Name, text.Bytes(e.Size), e.Topic)
			}
		case publish.ArtifactDone:
			r := e.Result
			say("artifact %s@%s: %s (%d bytes) %s", r.Package, r.Version, r.Action, r.Size, r.Topic)
		case publish.PercentSelected:
			say("percent %g: %d of %d reporting devices", e.Percent, e.Chosen, e.Known)
		case publish.TargetDone:
			say("%s", targetLine(e))
		case publish.CatalogDone:
			say("catalog: %s %s", e.Result.Action, e.Result.Topic)
		case publish.TargetCleared:
			say("%s", clearedLine(e))
		}
	}
}

func targetLine(e publish.TargetDone) string {
	r := e.Result
	var was, again string
	if r.Previous != 0 {
		was = fmt.Sprintf(", was %d", r.Previous)
	}
	if r.Restored {
		again = "; published again after a concurrent publish of a lower sequence replaced it"
	}
	return fmt.Sprintf("target %s: %s %s (sequence %d%s)%s", e.Target, r.Action, r.Topic, e.Sequence, was, again)
}

// testDelayEnv names an environment variable read by tests only: a
// duration that a publish sleeps between its anti-rollback check and its
// first desired publish, to widen the window racing publishers meet in.
const testDelayEnv = "OTACTL_TEST_DELAY_BEFORE_DESIRED"

// testHookBeforeDesired, set by tests only, runs just before a desired
// manifest is published to topic.
var testHookBeforeDesired func(topic string)

// testDelayBeforeDesired sleeps as testDelayEnv says, if it is set.
func testDelayBeforeDesired(ctx context.Context, sys *System) error {
	v := sys.Getenv(testDelayEnv)
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%s: %w", testDelayEnv, err)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
