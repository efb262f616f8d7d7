package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/profile"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
)

type releasePublishOptions struct {
	targetedOptions
	trustOptions
	File         string
	Artifacts    []string
	ArtifactsDir string
	MaxPayload   string
	BlockSize    string
	// Plan takes --encoding, --force and --dry-run as they are.
	Plan   publish.Plan
	Strict strictOption
	Yes    bool
	// Wait gates on the devices just targeted (release_publish_wait.go).
	Wait        bool
	WaitPackage string
	Gate        gateOptions
}

// waitCategory groups the flags of --wait in the help.
const waitCategory = "Wait (--wait)"

// releasePublishFlags are release publish's flags, bound to opts.
func releasePublishFlags(opts *releasePublishOptions) []cli.Flag {
	flags := opts.flags(true,
		&cli.StringFlag{Name: "artifacts", Usage: "folder holding the component files", Destination: &opts.ArtifactsDir},
		&cli.StringFlag{Name: "encoding", Usage: "desired manifest encoding: cbor for devices on the current Golioth firmware SDK, json for the seed's format and the SDK up to v0.7.0 (env OTACTL_ENCODING, profile setting encoding)", DefaultText: "json", Destination: &opts.Plan.Encoding},
		&cli.StringSliceFlag{Name: "pubkey", Aliases: []string{"p"}, Usage: "trusted public key that must have signed: a PEM `FILE` or keyring NAME (repeatable; default: the profile's)", Destination: &opts.Pubkeys},
		&cli.IntFlag{Name: "threshold", Usage: "valid signatures needed from distinct keys (default 1 with a key)", Destination: &opts.Threshold},
		stringsFlag(&cli.StringSliceFlag{Name: "root-pubkey", Usage: "root public `KEY` devices trust: the key set on P.u/keys must be signed by it (repeatable; see 'otactl key rotate')"}, &opts.RootPubkeys),
		&cli.BoolFlag{Name: "force", Usage: "publish over a higher or equal sequence number, and replace different artifact bytes", Destination: &opts.Plan.Force},
		dryRunFlag(&opts.Plan.DryRun),
		&cli.StringFlag{Name: "max-payload", Usage: "largest message the broker accepts, e.g. 128k or 16M (default: the profile's); larger artifacts go in blocks", Destination: &opts.MaxPayload},
		blockSizeFlag(&opts.BlockSize),
		strictFlag(&opts.Strict),
		yesFlag(&opts.Yes),
		verifyBrokerFlag(&opts.Conn),
	)
	return append(flags, waitFlags(opts)...)
}

func newReleasePublishCommand(sys *System) *cli.Command {
	opts := &releasePublishOptions{}
	return &cli.Command{
		Name:      "publish",
		Usage:     "publish a release: artifacts, then the desired manifest, each read back",
		UsageText: "otactl release publish MANIFEST [FILE... | --artifacts DIR] [--cohort NAME... | --device ID... | --devices-file FILE | --percent N] [--encoding json|cbor] [--pubkey KEY]... [--root-pubkey KEY]... [--strict] [--force] [--dry-run] [--wait [--wait-timeout 30m] [--min-updated 100%] [--max-failed N|P%]] [-o json]",
		Description: `Which encoding devices need (--encoding, env OTACTL_ENCODING, or the
profile setting encoding; default json):
  cbor  devices on the current Golioth firmware SDK, which decodes CBOR only
  json  the seed's format: otactl's simulator, devices of your own, and the
        Golioth SDK up to v0.7.0, the last release with a JSON decoder
A fleet on the current Golioth SDK ignores a JSON manifest: publish its
releases with --encoding cbor, or 'otactl config set encoding cbor'.

Publishes a release, stopping at the first failure:
  1. verifies the manifest: digest, expiry, and signatures when --pubkey is
     given or the profile has require-signatures; then, connected, holds it
     to the key set on P.u/keys when one is retained (exit 3 unless its
     release keys signed it; with --root-pubkey the key set itself must be
     signed by that root, see 'otactl key rotate');
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
     (the same release already there is left alone); a cohort or device
     target also when the fleet's topic does, as its devices act on the
     highest sequence they follow (docs/publishing.md, "Narrower targets");
  5. publishes the desired manifest, retained, to each target and reads it
     back. Each target is watched from step 4 until the run ends: when
     another run publishes a higher sequence there at the same time, this
     one exits 3 (and first puts the higher one back if its own publish
     replaced it);
  6. records the release in the catalog, P.u/releases/SEQUENCE.
A desired manifest is therefore never visible before all its artifacts are,
and a run that died half way finishes the job when run again, without
sending identical bytes twice. With --verify-broker (or verify-brokers), 3
and 4 also hold on every other endpoint and 5 is confirmed there (exit 6
if not): see docs/publishing.md, "Several endpoints".

The target is the fleet unless --cohort, --device, --devices-file or
--percent is given. --percent N picks N percent of the devices that retain
a state report, by a stable hash of the device id: raising N keeps the
devices already chosen.

--wait then gates, as 'rollout wait' does, on exactly the devices just
targeted (exit 0 done, 4 failed, 5 after --wait-timeout; a refused publish
does not wait); -o json prints the publish's report with the gate's result
under "gate" (docs/json.md), and, when the wait ends without a verdict
(interrupted, a broker error), the report alone. Several --cohort are one
gate over their devices together. See docs/watch.md, "One step: release
publish --wait", and "GitHub Actions".

On a terminal it asks before acting on the whole fleet; --yes skips the
question, and nothing asks when standard input is not a terminal (CI).

Example:
   $ otactl release publish release.json build/zephyr.signed.bin --device canary-01
   $ otactl release publish release.json --artifacts build/ --percent 10 --pubkey release-key.pub.pem
   $ otactl release publish release.json --encoding cbor --dry-run
   $ otactl release publish release.json --percent 10 --wait --max-failed 1 --min-updated 90% --wait-timeout 20m`,
		Flags: releasePublishFlags(opts),
		Action: runWithManifest("release publish", "otactl release publish release.json build/app.bin", func(ctx context.Context, manifest string, files []string) error {
			if enc := opts.Plan.Encoding; enc != "" && enc != "json" && enc != "cbor" {
				return usageErrorf("release publish: --encoding must be json or cbor, not %q", enc)
			}
			if opts.Threshold < 0 {
				return usageErrorf("release publish: --threshold must not be negative")
			}
			opts.File, opts.Artifacts = manifest, files
			return releasePublishRun(ctx, sys, opts)
		}),
	}
}

func releasePublishRun(ctx context.Context, sys *System, opts *releasePublishOptions) error {
	if err := opts.checkWait(); err != nil {
		return err
	}
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	plan, err := releasePublishPlan(ctx, sys, cn, opts)
	if err != nil {
		return err
	}
	if err := confirmFleet(sys, opts.Yes, plan.DryRun, plan.Targets, fmt.Sprintf("publish release %d", plan.Manifest.SequenceNumber), cn); err != nil {
		return err
	}
	if opts.Wait {
		return publishAndWait(ctx, sys, opts, plan)
	}
	return opts.publishWith(ctx, sys, "release-publish", func(p *publish.Publisher, _ bool) (any, error) { return p.Publish(ctx, plan) })
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
	plan := opts.Plan
	plan.Manifest = m
	if plan.Encoding, err = profile.Encoding(plan.Encoding, sys.Getenv, cn.Profile); err != nil {
		return nil, err
	}
	if plan.Strict, err = opts.Strict.resolve(sys, cn.Profile); err != nil {
		return nil, err
	}
	if plan.Trust, err = opts.checkPublish(ctx, sys, cn, m, opts.File); err != nil {
		return nil, err
	}
	if plan.Payload, err = publish.DesiredPayload(m, data, plan.Encoding); err != nil {
		return nil, err
	}
	if plan.Files, err = publish.MatchFiles(ctx, m, opts.Artifacts, opts.ArtifactsDir); err != nil {
		return nil, err
	}
	plan.ArtifactsDir = opts.ArtifactsDir
	if plan.MaxPayload, plan.BlockSize, err = payloadSettings(opts.MaxPayload, opts.BlockSize, cn); err != nil {
		return nil, err
	}
	for _, c := range m.Components {
		if _, err := publish.BlockSize(c.Package+"@"+c.Version, c.Size, plan.MaxPayload, plan.BlockSize); err != nil {
			return nil, err
		}
	}
	if plan.Targets, err = opts.Targets.resolve(cn.topics()); err != nil {
		return nil, err
	}
	plan.DeviceGlobs = opts.Targets.globs
	if opts.Targets.percentSet {
		plan.Percent = opts.Targets.Percent
	}
	return &plan, nil
}

// checkPublish holds m to the trust policy of o's flags and the profile
// before it is published, as what, which names it in the error.
func (o *trustOptions) checkPublish(ctx context.Context, sys *System, cn *connection, m *release.Manifest, what string) (publish.TrustPolicy, error) {
	trust, err := o.policy(sys, cn)
	if err == nil {
		err = trust.CheckPublish(ctx, m, sys.Now(), publishObserver(sys, false))
	}
	if err != nil {
		return trust, fmt.Errorf("%s: %w", what, err)
	}
	return trust, nil
}
