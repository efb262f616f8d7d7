package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/keyset"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/upload"
)

type keyRotateOptions struct {
	Conn        connectOptions
	RootKeys    signingOptions
	ReleaseKeys []string
	RootPubkeys []string
	// Request takes --threshold, --root-threshold, --version,
	// --bootstrap, --force and --dry-run as they are.
	Request publish.RotateRequest
	Output  string
}

func newKeyRotateCommand(sys *System) *cli.Command {
	opts := &keyRotateOptions{}
	opts.RootKeys.Flag = "--root-key"
	return &cli.Command{
		Name:      "rotate",
		Usage:     "publish a new signed key set: the release keys devices trust",
		UsageText: "otactl key rotate --root-key KEYREF... --release-key PUBKEY... [--threshold N] [--root-pubkey PUBKEY... --root-threshold N] [--version N] [--bootstrap] [--dry-run] [connection flags] [-o json]",
		Description: `Builds the key set (docs/keys.md#key-rotation): the release keys that must
sign manifests (--release-key, at --threshold), the root keys that sign key
sets (--root-pubkey, at --root-threshold; default: the --root-key keys) and
a version, one above the key set retained on P.u/keys unless --version says.
Signs it with every --root-key, checks that devices following the retained
key set accept it (signed by the threshold of its root keys, and of the new
root's; a higher version), then publishes it retained and reads it back.
Devices then verify manifests with the new release keys, without being
reflashed. A key set that devices would refuse is never published: exit 3.

With --verify-broker (or OTACTL_VERIFY_BROKERS, or the profile's
verify-brokers) every other endpoint is read first (unreachable: exit 1;
a key set of the same or a higher version there: exit 3, nothing sent) and
the key set is confirmed on each after it is published: exit 6 when one
does not serve it (docs/keys.md#key-rotation).

The first key set is published with --bootstrap (there must be none yet),
signed by the root keys devices are provisioned with.

Example:
   $ otactl key rotate --bootstrap --root-key file:root.pem --release-key release-1.pub.pem
   key set version 1 published to .u/keys (first key set)
   $ otactl key rotate --root-key file:root.pem --release-key release-2.pub.pem
   key set version 2 published to .u/keys (was version 1)`,
		Flags: append([]cli.Flag{
			stringsFlag(&cli.StringSliceFlag{Name: "root-key", Usage: "root signing `KEYREF` that signs the key set: a keyring NAME, file:PATH, env:VAR, pkcs11: URI or exec:COMMAND (repeatable)", Required: true}, &opts.RootKeys.Refs),
			signerPubkeyFlag(&opts.RootKeys.SignerPubkey),
			stringsFlag(&cli.StringSliceFlag{Name: "release-key", Usage: "release public `KEY` manifests must be signed by: PEM file or keyring NAME (repeatable)", Required: true}, &opts.ReleaseKeys),
			&cli.IntFlag{Name: "threshold", Usage: "release signatures a manifest needs", Value: 1, Destination: &opts.Request.Threshold},
			stringsFlag(&cli.StringSliceFlag{Name: "root-pubkey", Usage: "root public `KEY` of the new key set (repeatable; default: the --root-key keys)"}, &opts.RootPubkeys),
			&cli.IntFlag{Name: "root-threshold", Usage: "root signatures the next key set needs", Value: 1, Destination: &opts.Request.RootThreshold},
			&cli.Int64Flag{Name: "version", Usage: "the key set's version", DefaultText: "one above the retained one, 1 with --bootstrap", Destination: &opts.Request.Version},
			&cli.BoolFlag{Name: "bootstrap", Usage: "publish the first key set: there must be none on the broker", Destination: &opts.Request.Bootstrap},
			&cli.BoolFlag{Name: "force", Usage: "publish although the retained key set (one devices refused) would not accept it; needs --version if it does not parse", Destination: &opts.Request.Force},
			dryRunFlag(&opts.Request.DryRun),
			outputFlag(&opts.Output),
			verifyBrokerFlag(&opts.Conn),
		}, connectFlags(&opts.Conn)...),
		Action: runWithoutArgs("key rotate", "", func(ctx context.Context) error {
			if opts.Request.Threshold < 1 || opts.Request.RootThreshold < 1 || opts.Request.Version < 0 {
				return usageErrorf("key rotate: --threshold and --root-threshold must be at least 1, --version not negative")
			}
			return keyRotateRun(ctx, sys, opts)
		}),
	}
}

func keyRotateRun(ctx context.Context, sys *System, opts *keyRotateOptions) error {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	req := opts.Request
	if req.Signers, err = opts.RootKeys.resolve(sys, cn.Profile); err != nil {
		return err
	}
	if req.ReleaseKeys, err = resolvePublicKeysFlag(sys, cn.Profile, "--release-key", opts.ReleaseKeys); err != nil {
		return err
	}
	if req.Roots, err = resolvePublicKeysFlag(sys, cn.Profile, "--root-pubkey", opts.RootPubkeys); err != nil {
		return err
	}
	var rep *publish.RotateReport
	err = opts.Conn.withEndpoints(ctx, sys, func(client *upload.Client, eps []publish.Endpoint) (err error) {
		p := newPublisher(sys, client, opts.Output == "json")
		p.Endpoints = eps
		rep, err = p.Rotate(ctx, req)
		return err
	})
	if err != nil {
		err = fmt.Errorf("key rotate: %w", err)
	}
	if opts.Output == "json" {
		return writePartialJSON(sys, "key-rotate", rep, err)
	}
	var partial *publish.PartialError
	if errors.As(err, &partial) {
		// Published, not confirmed everywhere: what was published.
		rep, _ = partial.Result.(*publish.RotateReport)
	}
	if rep != nil {
		writeRotateReport(sys.Stdout, rep)
	}
	return err
}

// writeRotateReport prints what key rotate did, one line and then the key
// set's keys.
func writeRotateReport(w io.Writer, r *publish.RotateReport) {
	was := "replacing a key set that does not parse"
	switch {
	case r.Bootstrap:
		was = "first key set"
	case r.PreviousVersion > 0:
		was = fmt.Sprintf("was version %d", r.PreviousVersion)
	}
	done := "key set version %d published to %s (%s)\n"
	if r.Action == publish.KeySetWouldPublish {
		done = "dry run: key set version %d would be published to %s (%s)\n"
	}
	fmt.Fprintf(w, done, r.Version, r.Topic, was)
	keyLine := func(what string, n int, ks []keyset.Key) {
		ids := make([]string, len(ks))
		for i, k := range ks {
			ids[i] = k.KeyID + " " + k.Alg
		}
		fmt.Fprintf(w, "  %s (threshold %d): %s\n", what, n, strings.Join(ids, ", "))
	}
	keyLine("release keys", r.Threshold, r.Keys)
	keyLine("root keys", r.RootThreshold, r.Roots)
	fmt.Fprintf(w, "  signed by: %s\n  digest: %s\n", strings.Join(r.SignedBy, ", "), r.Digest)
}
