package commands

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/catalog"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/protocol"
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
}

func newReleasePublishCommand(sys *System) *cli.Command {
	opts := &releasePublishOptions{}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "artifacts", Usage: "folder holding the component files", Destination: &opts.ArtifactsDir},
		&cli.StringFlag{Name: "encoding", Usage: "desired manifest encoding: json, or cbor for the Golioth device SDK", Value: "json", Destination: &opts.Encoding},
		&cli.StringSliceFlag{Name: "pubkey", Aliases: []string{"p"}, Usage: "trusted public key that must have signed: a PEM `FILE` or keyring NAME (repeatable; default: the profile's)", Destination: &opts.Pubkeys},
		&cli.IntFlag{Name: "threshold", Usage: "valid signatures needed from distinct keys (default 1 with a key)", Destination: &opts.Threshold},
		&cli.BoolFlag{Name: "force", Usage: "publish over a higher or equal sequence number, and replace different artifact bytes", Destination: &opts.Force},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the plan and send nothing", Destination: &opts.DryRun},
		&cli.StringFlag{Name: "max-payload", Usage: "largest message the broker accepts, e.g. 128k or 16M (default: the profile's)", Destination: &opts.MaxPayload},
		outputFlag(&opts.Output),
	}
	flags = append(flags, targetFlags(&opts.Targets, true)...)
	flags = append(flags, connectFlags(&opts.Conn)...)
	return &cli.Command{
		Name:      "publish",
		Usage:     "publish a release: artifacts, then the desired manifest, each read back",
		UsageText: "otactl release publish MANIFEST [FILE... | --artifacts DIR] [--cohort NAME | --device ID... | --devices-file FILE | --percent N] [--encoding json|cbor] [--pubkey KEY]... [--force] [--dry-run] [-o json]",
		Description: `Publishes a release, stopping at the first failure:
  1. verifies the manifest: digest, expiry, and signatures when --pubkey is
     given or the profile has require-signatures;
  2. checks every artifact file against its component (size, SHA-256);
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
				return usageErrorf("release publish: expected a MANIFEST argument\nhint: otactl release publish release.json build/app.bin")
			}
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if opts.Encoding != "json" && opts.Encoding != "cbor" {
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

// publishPlan is everything a publish needs, checked before any network
// traffic.
type publishPlan struct {
	Manifest   *release.Manifest
	Payload    []byte // the desired manifest as published
	Encoding   string
	Files      map[string]string // package -> artifact file
	MaxPayload int64
	Targets    []target
	Percent    float64 // 0: none
	Force      bool
	DryRun     bool
	RollbackOf int64
}

// publishReport is what a publish did (or, with --dry-run, would do).
type publishReport struct {
	SequenceNumber int64            `json:"sequenceNumber"`
	Hash           string           `json:"hash"`
	Encoding       string           `json:"encoding"`
	DryRun         bool             `json:"dryRun"`
	RollbackOf     int64            `json:"rollbackOf,omitempty"`
	Artifacts      []artifactResult `json:"artifacts"`
	Targets        []targetResult   `json:"targets"`
	Catalog        catalogResult    `json:"catalog"`
}

type targetResult struct {
	Kind  protocol.TargetKind `json:"kind"`
	Name  string              `json:"name,omitempty"`
	Topic string              `json:"topic"`
	// Previous is the sequence number retained there before, 0 for none.
	Previous int64 `json:"previousSequence,omitempty"`
	// Action is published, unchanged (this release was already there) or
	// would publish.
	Action string `json:"action"`
	// Restored says this run published its release there again because a
	// concurrent publish of a lower sequence had replaced it.
	Restored bool `json:"restored,omitempty"`
}

type catalogResult struct {
	Topic  string `json:"topic"`
	Action string `json:"action"` // recorded, unchanged, would record
}

func releasePublishRun(ctx context.Context, sys *System, opts *releasePublishOptions) error {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	topics := cn.topics()
	data, err := readInput(sys, opts.File)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	m, err := release.Parse(data)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", opts.File, err)
	}
	plan := &publishPlan{Manifest: m, Encoding: opts.Encoding, Force: opts.Force, DryRun: opts.DryRun}

	// 1. The manifest itself.
	if err := verifyForPublish(ctx, sys, cn, m, opts.Pubkeys.Value(), opts.Threshold); err != nil {
		return fmt.Errorf("%s: %w", opts.File, err)
	}
	plan.Payload, err = desiredPayload(m, data, opts.Encoding)
	if err != nil {
		return err
	}
	// 2. The artifact files.
	plan.Files, err = matchFiles(ctx, m, opts.Artifacts, opts.ArtifactsDir)
	if err != nil {
		return err
	}
	if plan.MaxPayload, err = maxPayloadSetting(opts.MaxPayload, cn); err != nil {
		return err
	}
	for _, c := range m.Components {
		if err := checkPayloadSize(c.Package+"@"+c.Version, c.Size, plan.MaxPayload); err != nil {
			return err
		}
	}
	if plan.Targets, err = opts.Targets.resolve(topics); err != nil {
		return err
	}
	if opts.Targets.percentSet {
		plan.Percent = opts.Targets.Percent
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

// verifyForPublish checks digest, form and expiry, and the signatures when
// keys are given or the profile requires them.
func verifyForPublish(ctx context.Context, sys *System, cn *connection, m *release.Manifest, pubkeys []string, threshold int) error {
	if len(pubkeys) == 0 {
		pubkeys = cn.Profile.Pubkeys
		if threshold == 0 {
			threshold = cn.Profile.Threshold
		}
	}
	if cn.Profile.RequireSignatures && len(pubkeys) == 0 {
		return withHint(fmt.Errorf("profile %q requires signatures but names no trusted key", cn.ProfileName),
			"add one with 'otactl config set pubkey FILE|NAME', or give --pubkey")
	}
	keys, err := resolvePublicKeys(sys, pubkeys)
	if err != nil {
		return err
	}
	v := release.Verify(ctx, m, release.VerifyOptions{Keys: keys, Threshold: threshold, At: sys.Now()})
	if err := v.Err(); err != nil {
		return err
	}
	if len(keys) == 0 && len(m.Signatures) == 0 {
		fmt.Fprintln(sys.Stderr, "warning: publishing an unsigned release (no --pubkey, and the profile does not require signatures)")
	}
	return nil
}

// desiredPayload is the manifest as published: the file's own bytes when
// they already are the chosen encoding, else the manifest re-encoded.
func desiredPayload(m *release.Manifest, file []byte, encoding string) ([]byte, error) {
	isJSON := bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(bytes.TrimLeft(file, " \t\r\n"), []byte("\xef\xbb\xbf")), " \t\r\n"), []byte("{"))
	switch {
	case encoding == "json" && isJSON:
		return file, nil
	case encoding == "json":
		return release.EncodeJSON(m)
	}
	return release.EncodeCBOR(m)
}

// matchFiles pairs the artifact arguments with the components, and fails
// (exit 3) on a file that does not match its component.
func matchFiles(ctx context.Context, m *release.Manifest, files []string, dir string) (map[string]string, error) {
	out := map[string]string{}
	if len(files) == 0 && dir == "" {
		return out, nil
	}
	matches, err := release.MatchArtifacts(ctx, m, files, dir)
	if err != nil {
		return nil, err
	}
	if problems := release.ArtifactProblems(m, matches, false); len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", release.ErrVerification, strings.Join(problems, "; "))
	}
	for _, a := range matches {
		if a.Package != "" && a.OK {
			out[a.Package] = a.Path
		}
	}
	return out, nil
}

// publishRelease runs steps 3 to 6 of a publish on an open connection.
// Progress goes to stdout as it happens unless quiet (JSON output).
func publishRelease(ctx context.Context, sys *System, client *upload.Client, plan *publishPlan, quiet bool) (*publishReport, error) {
	m := plan.Manifest
	topics := client.Topics()
	say := func(format string, args ...any) {
		if !quiet {
			fmt.Fprintf(sys.Stdout, format+"\n", args...)
		}
	}
	rep := &publishReport{SequenceNumber: m.SequenceNumber, Hash: m.Hash, Encoding: plan.Encoding, DryRun: plan.DryRun,
		RollbackOf: plan.RollbackOf, Artifacts: []artifactResult{}, Targets: []targetResult{}}

	// 3. Every artifact on the broker, read back.
	for _, c := range m.Components {
		name := c.Package + "@" + c.Version
		topic, err := topics.Component(c.Package, c.Version)
		if err != nil {
			return nil, fmt.Errorf("component %s: %w", name, err)
		}
		if uri := release.ComponentURI(c.Package, c.Version); c.URI != uri {
			return nil, fmt.Errorf("component %s: uri %q is not %q, where otactl publishes it", name, c.URI, uri)
		}
		res := artifactResult{Package: c.Package, Version: c.Version, Topic: topic, Size: c.Size, SHA256: c.Hash}
		if path, ok := plan.Files[c.Package]; ok {
			f, size, err := openArtifact(path, plan.MaxPayload)
			if err != nil {
				return nil, err
			}
			if size != c.Size {
				f.Close()
				return nil, fmt.Errorf("%w: %s changed since it was checked: it no longer matches component %s (%d bytes, not %d)", release.ErrVerification, path, name, size, c.Size)
			}
			// The bytes are hashed as they are sent, and must hash to the
			// component's hash: a file changed since step 2 is never
			// published.
			put, err := putArtifact(ctx, sys, client, artifactPut{Topic: topic, Name: name, Path: path, File: f, Size: size, Hash: c.Hash, Force: plan.Force, DryRun: plan.DryRun})
			f.Close()
			if err != nil {
				return nil, err
			}
			res.Action = put.Action
		} else {
			if err := verifyRemoteArtifact(ctx, client, topic, name, c); err != nil {
				return nil, err
			}
			res.Action = "verified"
		}
		say("artifact %s: %s (%d bytes) %s", name, res.Action, c.Size, topic)
		rep.Artifacts = append(rep.Artifacts, res)
	}

	// The devices --percent chooses.
	targets := append([]target{}, plan.Targets...)
	if plan.Percent > 0 {
		chosen, known, err := percentTargets(ctx, client, plan.Percent)
		if err != nil {
			return nil, err
		}
		say("percent %g: %d of %d reporting devices", plan.Percent, len(chosen), known)
		seen := map[string]bool{}
		for _, t := range targets {
			seen[t.Topic] = true
		}
		for _, t := range chosen {
			if !seen[t.Topic] {
				targets = append(targets, t)
			}
		}
	}

	// 4. Anti-rollback on every target before publishing to any, and 5.
	// the desired manifest on every target, confirmed; each target is
	// watched for concurrent publishes until the run ends.
	desired, err := startDesired(ctx, sys, client, plan, targets)
	if err != nil {
		return nil, err
	}
	defer desired.close()
	if err := desired.publish(ctx, say); err != nil {
		return nil, desired.partial(ctx, err)
	}
	rep.Targets = desired.results
	kept := desired.kept()
	if len(targets) > 0 && len(kept) == 0 {
		// The release stayed nowhere: no catalog entry.
		return nil, desired.finish(ctx)
	}

	// 6. The catalog entry.
	ctopic, err := topics.Release(m.SequenceNumber)
	if err != nil {
		return nil, desired.partial(ctx, err)
	}
	rep.Catalog = catalogResult{Topic: ctopic, Action: "recorded"}
	now := sys.Now().UTC().Format(time.RFC3339)
	entry := catalog.New(m, plan.Encoding, catalogTargets(kept, now), sys.Now())
	entry.RollbackOf = plan.RollbackOf
	old, found, err := client.ReadRetained(ctx, ctopic)
	if err != nil {
		return nil, desired.partial(ctx, err)
	}
	if found {
		if prev, perr := catalog.Parse(old); perr == nil && prev.Hash == m.Hash {
			n := len(prev.Targets)
			prev.Merge(entry.Targets)
			if len(prev.Targets) == n {
				rep.Catalog.Action = "unchanged"
			}
			prev.PublishedAt, prev.Encoding = entry.PublishedAt, entry.Encoding
			if prev.RollbackOf == 0 {
				prev.RollbackOf = entry.RollbackOf
			}
			entry = prev
		} else if perr != nil {
			fmt.Fprintf(sys.Stderr, "warning: catalog entry %s does not parse (%v): replacing it\n", ctopic, perr)
		}
	}
	switch {
	case plan.DryRun && rep.Catalog.Action == "recorded":
		rep.Catalog.Action = "would record"
	case rep.Catalog.Action == "recorded":
		b, err := entry.Encode()
		if err != nil {
			return nil, desired.partial(ctx, err)
		}
		if err := client.PublishVerified(ctx, ctopic, b); err != nil {
			return nil, desired.partial(ctx, fmt.Errorf("catalog: %w", err))
		}
	}
	say("catalog: %s %s", rep.Catalog.Action, ctopic)
	if err := desired.finish(ctx); err != nil {
		return nil, err
	}
	return rep, nil
}

// verifyRemoteArtifact checks that the broker retains a component's exact
// bytes when no file was given for it.
func verifyRemoteArtifact(ctx context.Context, client *upload.Client, topic, name string, c release.Component) error {
	sum, err := hex.DecodeString(c.Hash)
	if err != nil || len(sum) != 32 {
		return fmt.Errorf("%w: component %s: hash is not SHA-256 hex", release.ErrVerification, name)
	}
	err = client.VerifyRetained(ctx, topic, int(c.Size), [32]byte(sum))
	var ve *upload.VerifyError
	if errors.As(err, &ve) && ve.Missing {
		return withHint(fmt.Errorf("component %s is not on the broker (%s) and no file was given for it", name, topic),
			"give the file as an argument (otactl release publish release.json FILE) or --artifacts DIR")
	}
	if errors.As(err, &ve) {
		return fmt.Errorf("component %s: %w", name, err)
	}
	return err
}

// readRetainedManifest reads and parses the desired manifest on topic.
func readRetainedManifest(ctx context.Context, client *upload.Client, topic string) (*release.Manifest, []byte, bool, error) {
	b, found, err := client.ReadRetained(ctx, topic)
	if err != nil || !found {
		return nil, nil, false, err
	}
	m, err := release.Parse(b)
	if err != nil {
		return nil, b, true, fmt.Errorf("%s: %w", topic, err)
	}
	return m, b, true, nil
}

// readCatalog reads every catalog entry, sorted by sequence number;
// entries that do not parse are reported on stderr and skipped.
func readCatalog(ctx context.Context, sys *System, client *upload.Client) ([]*catalog.Entry, error) {
	topics := client.Topics()
	var entries []*catalog.Entry
	err := client.ReadRetainedAll(ctx, topics.ReleasesFilter(), func(topic string, payload []byte) {
		seq, ok := topics.ParseRelease(topic)
		if !ok {
			return
		}
		e, err := catalog.Parse(payload)
		if err != nil || e.SequenceNumber != seq {
			if err == nil {
				err = fmt.Errorf("it names sequence %d", e.SequenceNumber)
			}
			fmt.Fprintf(sys.Stderr, "warning: skipping catalog entry %s: %v\n", topic, err)
			return
		}
		entries = append(entries, e)
	})
	if err != nil {
		return nil, err
	}
	// A topic seen twice keeps its last entry.
	bySeq := map[int64]*catalog.Entry{}
	for _, e := range entries {
		bySeq[e.SequenceNumber] = e
	}
	entries = entries[:0]
	for _, e := range bySeq {
		entries = append(entries, e)
	}
	catalog.Sort(entries)
	return entries, nil
}

type releaseListOptions struct {
	Conn   connectOptions
	Output string
}

func newReleaseListCommand(sys *System) *cli.Command {
	opts := &releaseListOptions{}
	return &cli.Command{
		Name:      "list",
		Usage:     "list the published releases from the catalog",
		UsageText: "otactl release list [connection flags] [-o json]",
		Description: `Reads the release catalog (the retained entries under P.u/releases/) and
prints each release: sequence number, when it was last published, its
components, the key ids that signed it and where it was published.

Example:
   $ otactl release list --broker mqtt://localhost:1883
   SEQUENCE    PUBLISHED             COMPONENTS  SIGNED BY         TARGETS
   1767225600  2026-01-01T00:00:00Z  main@1.2.3  3f1c0a9b27d4e815  device canary-01, fleet`,
		Flags: append([]cli.Flag{outputFlag(&opts.Output)}, connectFlags(&opts.Conn)...),
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 0 {
				return usageErrorf("release list: unexpected argument %q", c.Args().First())
			}
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			return releaseListRun(c.Context, sys, opts)
		},
	}
}

func releaseListRun(ctx context.Context, sys *System, opts *releaseListOptions) error {
	client, _, err := opts.Conn.open(ctx, sys)
	if err != nil {
		return err
	}
	defer client.Close()
	entries, err := readCatalog(ctx, sys, client)
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		if entries == nil {
			entries = []*catalog.Entry{}
		}
		return writeJSON(sys.Stdout, map[string]any{"releases": entries})
	}
	if len(entries) == 0 {
		fmt.Fprintln(sys.Stderr, "no releases in the catalog under "+client.Topics().ReleasesFilter())
		return nil
	}
	t := output.Table{Header: []string{"SEQUENCE", "PUBLISHED", "COMPONENTS", "SIGNED BY", "TARGETS"}}
	for _, e := range entries {
		var comps, signers, targets []string
		for _, c := range e.Components {
			comps = append(comps, c.Package+"@"+c.Version)
		}
		for _, s := range e.Signatures {
			signers = append(signers, s.KeyID)
		}
		for _, tg := range e.Targets {
			targets = append(targets, protocol.Target{Kind: tg.Kind, Name: tg.Name}.String())
		}
		seq := strconv.FormatInt(e.SequenceNumber, 10)
		if e.RollbackOf != 0 {
			seq += " (rollback to " + strconv.FormatInt(e.RollbackOf, 10) + ")"
		}
		t.Rows = append(t.Rows, []string{seq, e.PublishedAt, strings.Join(comps, ", "), orNone(strings.Join(signers, ", ")), orNone(summarizeTargets(targets))})
	}
	return t.Write(sys.Stdout, sys.StdoutTTY)
}

// summarizeTargets keeps a long device list short.
func summarizeTargets(ts []string) string {
	if len(ts) <= 6 {
		return strings.Join(ts, ", ")
	}
	return strings.Join(ts[:5], ", ") + fmt.Sprintf(" and %d more", len(ts)-5)
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type releaseCurrentOptions struct {
	Conn      connectOptions
	Targets   targetOptions
	Pubkeys   cli.StringSlice
	Threshold int
	Output    string
}

func newReleaseCurrentCommand(sys *System) *cli.Command {
	opts := &releaseCurrentOptions{}
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "pubkey", Aliases: []string{"p"}, Usage: "trusted public key: a PEM `FILE` or keyring NAME (repeatable; default: the profile's)", Destination: &opts.Pubkeys},
		&cli.IntFlag{Name: "threshold", Usage: "valid signatures needed from distinct keys (default 1 with a key)", Destination: &opts.Threshold},
		outputFlag(&opts.Output),
	}
	flags = append(flags, targetFlags(&opts.Targets, false)...)
	flags = append(flags, connectFlags(&opts.Conn)...)
	return &cli.Command{
		Name:      "current",
		Usage:     "show and verify the desired manifest devices see now",
		UsageText: "otactl release current [--cohort NAME | --device ID] [--pubkey KEY]... [connection flags] [-o json]",
		Description: `Reads the retained desired manifest of the fleet (or a cohort, or a device),
prints it and verifies it: digest, expiry, and signatures by the given or
the profile's trusted keys. Exit 3 when verification fails, 1 when nothing
is retained there.

Example:
   $ otactl release current --pubkey release-key.pub.pem
   $ otactl release current --device canary-01 -o json | jq .manifest.sequenceNumber`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 0 {
				return usageErrorf("release current: unexpected argument %q", c.Args().First())
			}
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			return releaseCurrentRun(c.Context, sys, opts)
		},
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
	pubkeys, threshold := opts.Pubkeys.Value(), opts.Threshold
	if len(pubkeys) == 0 {
		pubkeys, threshold = cn.Profile.Pubkeys, cn.Profile.Threshold
	}
	keys, err := resolvePublicKeys(sys, pubkeys)
	if err != nil {
		return err
	}
	client, _, err := opts.Conn.open(ctx, sys)
	if err != nil {
		return err
	}
	defer client.Close()
	m, _, found, err := readRetainedManifest(ctx, client, t.Topic)
	if err != nil {
		if found {
			return fmt.Errorf("%w: %v", release.ErrVerification, err)
		}
		return err
	}
	if !found {
		return withHint(fmt.Errorf("no desired manifest is retained for the %s (%s)", t, t.Topic),
			"publish one with 'otactl release publish'")
	}
	v := release.Verify(ctx, m, release.VerifyOptions{Keys: keys, Threshold: threshold, At: sys.Now()})
	if cn.Profile.RequireSignatures && len(keys) == 0 {
		v.OK = false
		v.Problems = append(v.Problems, "the profile requires signatures but names no trusted key")
	}
	if opts.Output == "json" {
		if err := writeJSON(sys.Stdout, map[string]any{"kind": t.Kind, "name": t.Name, "topic": t.Topic, "manifest": m, "verdict": v}); err != nil {
			return err
		}
		if v.Err() != nil {
			return withExitCode(ExitVerification, fmt.Errorf("%s: verification failed", t.Topic))
		}
		return nil
	}
	fmt.Fprintf(sys.Stdout, "%s (%s):\n", t, t.Topic)
	if err := output.WriteManifest(sys.Stdout, m, sys.Now(), sys.StdoutTTY); err != nil {
		return err
	}
	if err := v.Err(); err != nil {
		return fmt.Errorf("%s: %w", t.Topic, err)
	}
	if len(keys) > 0 {
		fmt.Fprintf(sys.Stdout, "verified: digest, expiry and %s\n", plural(v.ValidSignatures, "valid signature"))
	} else {
		fmt.Fprintln(sys.Stdout, "verified: digest and expiry (no trusted key given: signatures not checked)")
	}
	return nil
}

type releaseRollbackOptions struct {
	Conn       connectOptions
	Targets    targetOptions
	To         int64
	Sequence   int64
	Expires    string
	Sign       cli.StringSlice
	Encoding   string
	Force      bool
	DryRun     bool
	MaxPayload string
	Output     string
}

func newReleaseRollbackCommand(sys *System) *cli.Command {
	opts := &releaseRollbackOptions{}
	flags := []cli.Flag{
		&cli.Int64Flag{Name: "to", Usage: "`SEQUENCE` of the catalog release to go back to", Destination: &opts.To, Required: true},
		&cli.StringSliceFlag{Name: "sign", Usage: "sign the new manifest with `KEYREF`: a keyring NAME, file:PATH or env:VAR (repeatable)", Destination: &opts.Sign},
		&cli.Int64Flag{Name: "sequence", Usage: "sequence number of the new manifest (default: now, or above what the targets retain)", Destination: &opts.Sequence},
		&cli.StringFlag{Name: "expires", Usage: "expiry: a duration like 720h or an RFC 3339 time", Destination: &opts.Expires},
		&cli.StringFlag{Name: "encoding", Usage: "json or cbor (default: the encoding the release was published with)", Destination: &opts.Encoding},
		&cli.BoolFlag{Name: "force", Usage: "publish over a higher sequence number", Destination: &opts.Force},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the plan and send nothing", Destination: &opts.DryRun},
		outputFlag(&opts.Output),
	}
	flags = append(flags, targetFlags(&opts.Targets, false)...)
	flags = append(flags, connectFlags(&opts.Conn)...)
	return &cli.Command{
		Name:      "rollback",
		Usage:     "publish an earlier release again under a new sequence number",
		UsageText: "otactl release rollback --to SEQUENCE --sign KEYREF [--cohort NAME | --device ID...] [--sequence N] [--dry-run] [connection flags] [-o json]",
		Description: `Takes the components of an earlier release from the catalog, builds a new
manifest with a new sequence number (the time now, or one above what the
targets retain), signs it with every --sign key and publishes it as
'release publish' does: devices switch because the version differs. The
components' bytes must still be on the broker; they are read back first.

Example:
   $ otactl release list
   $ otactl release rollback --to 1767225600 --sign release-key
   $ otactl release rollback --to 1767225600 --sign env:OTACTL_SIGNING_KEY --cohort canary -o json`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 0 {
				return usageErrorf("release rollback: unexpected argument %q", c.Args().First())
			}
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if opts.To <= 0 {
				return usageErrorf("release rollback: --to must be a positive sequence number")
			}
			if opts.Encoding != "" && opts.Encoding != "json" && opts.Encoding != "cbor" {
				return usageErrorf("release rollback: --encoding must be json or cbor, not %q", opts.Encoding)
			}
			return releaseRollbackRun(c.Context, sys, opts)
		},
	}
}

func releaseRollbackRun(ctx context.Context, sys *System, opts *releaseRollbackOptions) error {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	topics := cn.topics()
	targets, err := opts.Targets.resolve(topics)
	if err != nil {
		return err
	}
	signers, err := resolveSigners(sys, opts.Sign.Value())
	if err != nil {
		return err
	}
	now, err := sys.buildTime()
	if err != nil {
		return err
	}
	var expires string
	if opts.Expires != "" {
		t, err := release.ExpiryTime(opts.Expires, now)
		if err != nil {
			return usageErrorf("release rollback: --expires: %v", err)
		}
		expires = t.UTC().Format(time.RFC3339)
	}
	client, _, err := opts.Conn.open(ctx, sys)
	if err != nil {
		return err
	}
	defer client.Close()
	ctopic, err := topics.Release(opts.To)
	if err != nil {
		return err
	}
	b, found, err := client.ReadRetained(ctx, ctopic)
	if err != nil {
		return err
	}
	if !found {
		return withHint(fmt.Errorf("release %d is not in the catalog (%s)", opts.To, ctopic), "list releases with 'otactl release list'")
	}
	entry, err := catalog.Parse(b)
	if err != nil {
		return err
	}
	seq := opts.Sequence
	if seq == 0 {
		// Above whatever the targets retain, so anti-rollback lets it through.
		seq = now.Unix()
		for _, t := range targets {
			m, _, _, err := readRetainedManifest(ctx, client, t.Topic)
			if err == nil && m != nil && m.SequenceNumber >= seq {
				seq = m.SequenceNumber + 1
			}
		}
	}
	m := entry.Manifest(seq)
	m.Expires = expires
	m.Seal()
	for _, s := range signers {
		if err := m.Sign(s); err != nil {
			return err
		}
	}
	if err := verifyForPublish(ctx, sys, cn, m, nil, 0); err != nil {
		return fmt.Errorf("rollback manifest: %w", err)
	}
	encoding := opts.Encoding
	if encoding == "" {
		encoding = entry.Encoding
	}
	var payload []byte
	if encoding == "cbor" {
		payload, err = release.EncodeCBOR(m)
	} else {
		payload, err = release.EncodeJSON(m)
	}
	if err != nil {
		return err
	}
	plan := &publishPlan{Manifest: m, Payload: payload, Encoding: encoding, Files: map[string]string{},
		Targets: targets, Force: opts.Force, DryRun: opts.DryRun, RollbackOf: opts.To}
	if opts.Output != "json" {
		fmt.Fprintf(sys.Stdout, "rollback to release %d as sequence %d\n", opts.To, seq)
	}
	rep, err := publishRelease(ctx, sys, client, plan, opts.Output == "json")
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		return writeJSON(sys.Stdout, rep)
	}
	return nil
}

type releaseUnpublishOptions struct {
	Conn    connectOptions
	Targets targetOptions
	DryRun  bool
	Output  string
}

func newReleaseUnpublishCommand(sys *System) *cli.Command {
	opts := &releaseUnpublishOptions{}
	flags := []cli.Flag{
		&cli.BoolFlag{Name: "dry-run", Usage: "say what would be cleared and send nothing", Destination: &opts.DryRun},
		outputFlag(&opts.Output),
	}
	flags = append(flags, targetFlags(&opts.Targets, false)...)
	flags = append(flags, connectFlags(&opts.Conn)...)
	return &cli.Command{
		Name:      "unpublish",
		Usage:     "clear a retained desired manifest",
		UsageText: "otactl release unpublish [--cohort NAME | --device ID... | --devices-file FILE] [--dry-run] [connection flags] [-o json]",
		Description: `Clears the retained desired manifest of the fleet (or the given cohorts or
devices) with an empty retained message, and reads the topic back to make
sure nothing is retained. Devices keep the firmware they run; they just
have no release to act on. Artifacts and the catalog are left alone.

Example:
   $ otactl release unpublish --device canary-01
   $ otactl release unpublish --cohort beta -o json`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 0 {
				return usageErrorf("release unpublish: unexpected argument %q", c.Args().First())
			}
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			return releaseUnpublishRun(c.Context, sys, opts)
		},
	}
}

func releaseUnpublishRun(ctx context.Context, sys *System, opts *releaseUnpublishOptions) error {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	targets, err := opts.Targets.resolve(cn.topics())
	if err != nil {
		return err
	}
	client, _, err := opts.Conn.open(ctx, sys)
	if err != nil {
		return err
	}
	defer client.Close()
	results := []targetResult{}
	for _, t := range targets {
		r := targetResult{Kind: t.Kind, Name: t.Name, Topic: t.Topic}
		m, _, found, err := readRetainedManifest(ctx, client, t.Topic)
		if err != nil && !found {
			return err
		}
		if m != nil {
			r.Previous = m.SequenceNumber
		}
		switch {
		case !found:
			r.Action = "empty"
		case opts.DryRun:
			r.Action = "would clear"
		default:
			if err := client.Clear(ctx, t.Topic); err != nil {
				return err
			}
			r.Action = "cleared"
		}
		results = append(results, r)
		if opts.Output != "json" {
			switch {
			case r.Action == "empty":
				fmt.Fprintf(sys.Stdout, "%s: nothing retained on %s\n", t, t.Topic)
			case r.Previous != 0:
				fmt.Fprintf(sys.Stdout, "%s: %s %s (was sequence %d)\n", t, r.Action, t.Topic, r.Previous)
			default:
				fmt.Fprintf(sys.Stdout, "%s: %s %s\n", t, r.Action, t.Topic)
			}
		}
	}
	if opts.Output == "json" {
		return writeJSON(sys.Stdout, map[string]any{"dryRun": opts.DryRun, "targets": results})
	}
	return nil
}
