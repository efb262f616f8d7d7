package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

type releaseCurrentOptions struct {
	targetedOptions
	trustOptions
}

func newReleaseCurrentCommand(sys *System) *cli.Command {
	opts := &releaseCurrentOptions{}
	flags := opts.flags(false,
		&cli.StringSliceFlag{Name: "pubkey", Aliases: []string{"p"}, Usage: "trusted public key: a PEM `FILE` or keyring NAME (repeatable; default: the profile's)", Destination: &opts.Pubkeys},
		&cli.IntFlag{Name: "threshold", Usage: "valid signatures needed from distinct keys (default 1 with a key)", Destination: &opts.Threshold},
	)
	return &cli.Command{
		Name:      "current",
		Usage:     "show and verify the desired manifest devices see now",
		UsageText: "otactl release current [--cohort NAME | --device ID] [--pubkey KEY]... [connection flags] [-o json]",
		Description: `Reads the retained desired manifest of the fleet (or a cohort, or a device),
prints it and verifies it: digest, expiry, and signatures by the given or
the profile's trusted keys. Exit 3 when verification fails, 1 when nothing
is retained there. A target that retains the empty manifest ({} or CBOR
a0, what 'release unpublish' publishes) has no release: that is said, with
exit 0 ("noRelease": true with -o json).

Example:
   $ otactl release current --pubkey release-key.pub.pem
   $ otactl release current --device canary-01 -o json | jq .manifest.sequenceNumber`,
		Flags: flags,
		Action: runWithoutArgs("release current", "", func(ctx context.Context) error {
			return releaseCurrentRun(ctx, sys, opts)
		}),
	}
}

func releaseCurrentRun(ctx context.Context, sys *System, opts *releaseCurrentOptions) error {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	t, err := opts.Targets.single(cn.topics())
	if err != nil {
		return err
	}
	trust, err := opts.policy(sys, cn)
	if err != nil {
		return err
	}
	var (
		m       *release.Manifest
		payload []byte
		found   bool
	)
	err = opts.Conn.withClient(ctx, sys, func(client *upload.Client) (err error) {
		m, payload, found, err = publish.ReadManifest(ctx, client, t.Topic)
		return err
	})
	if errors.Is(err, release.ErrNoRelease) {
		return writeNoRelease(sys, t, release.EncodingOf(payload), opts.Output == "json")
	}
	if err != nil {
		if found {
			return fmt.Errorf("%w: %v", release.ErrVerification, err)
		}
		return err
	}
	if !found {
		return withHint(fmt.Errorf("no desired manifest is retained for the %s (%s)", t, t.Topic),
			"publish one with 'otactl release publish'; or this user may not read it: mosquitto hides what its access rules deny (docs/brokers.md)")
	}
	v := trust.Verdict(ctx, m, sys.Now())
	if opts.Output == "json" {
		// The manifest as release show prints it (an empty list is [],
		// as everywhere in otactl's JSON).
		mb, err := release.EncodeJSON(m)
		if err != nil {
			return err
		}
		if err := writeJSON(sys.Stdout, "release-current", map[string]any{"kind": t.Kind, "name": t.Name, "topic": t.Topic, "manifest": json.RawMessage(mb), "verdict": v}); err != nil {
			return err
		}
		if v.Err() != nil {
			return withExitCode(ExitVerification, fmt.Errorf("%s: verification failed", t.Topic))
		}
		return nil
	}
	return writeCurrent(sys, t, m, v, len(trust.Keys) > 0)
}

// writeNoRelease says that target t retains the empty manifest: no
// release, a state of its own (what 'release unpublish' leaves).
func writeNoRelease(sys *System, t publish.Target, encoding string, jsonOut bool) error {
	if jsonOut {
		return writeJSON(sys.Stdout, "release-current", map[string]any{"kind": t.Kind, "name": t.Name, "topic": t.Topic, "noRelease": true, "encoding": encoding, "manifest": nil})
	}
	_, err := fmt.Fprintf(sys.Stdout, "%s (%s): no release: the empty manifest (%s) is retained; devices have no release to act on\n", t, t.Topic, encoding)
	return err
}

// writeCurrent prints the manifest a target retains and the verdict.
func writeCurrent(sys *System, t publish.Target, m *release.Manifest, v release.Verdict, keyed bool) error {
	fmt.Fprintf(sys.Stdout, "%s (%s):\n", t, t.Topic)
	if err := output.WriteManifest(sys.Stdout, m, sys.Now(), sys.StdoutTTY, tableWidth(sys)); err != nil {
		return err
	}
	if err := v.Err(); err != nil {
		return fmt.Errorf("%s: %w", t.Topic, err)
	}
	if keyed {
		fmt.Fprintf(sys.Stdout, "verified: digest, expiry and %s\n", text.Plural(v.ValidSignatures, "valid signature"))
	} else {
		fmt.Fprintln(sys.Stdout, "verified: digest and expiry (no trusted key given: signatures not checked)")
	}
	return nil
}
