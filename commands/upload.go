package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/profile"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

type uploadOptions struct {
	Conn       connectOptions
	Package    string
	Version    string
	File       string
	Force      bool
	MaxPayload string
	Output     string
}

func newUploadCommand(sys *System) *cli.Command {
	opts := &uploadOptions{}
	return &cli.Command{
		Name:      "upload",
		Usage:     "publish an artifact's bytes, retained, and prove them by reading them back",
		UsageText: "otactl upload PACKAGE@VERSION FILE [--force] [--max-payload BYTES] [connection flags] [-o json]",
		Description: `Publishes FILE retained at QoS 1 to P.u/c/PACKAGE@VERSION, then reads the
retained message back and compares size and SHA-256: a broker that drops
large messages while acknowledging them is caught here. When the broker
already holds the same bytes nothing is sent; when it holds different bytes
the upload is refused (exit 3) unless --force.

--max-payload (or the profile's max-payload) refuses, before connecting, a
file larger than the broker accepts.

A file of 1 MiB or more on an mqtt:// or mqtts:// broker streams from disk
over a second connection (client id ID-s), hashed as it is sent and read
back through a hash, so it is never held in memory; a publish cut short
leaves nothing retained.

Example:
   $ otactl upload main@1.2.3 build/zephyr/zephyr.signed.bin --broker mqtts://broker.example:8883 --username ci
   uploaded main@1.2.3: 538208 bytes, sha256 feb982c3fbec..., to .u/c/main@1.2.3 (read back and verified)`,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "replace different bytes already published under this version", Destination: &opts.Force},
			&cli.StringFlag{Name: "max-payload", Usage: "largest message the broker accepts, e.g. 128k or 16M (default: the profile's max-payload)", Destination: &opts.MaxPayload},
			outputFlag(&opts.Output),
		}, connectFlags(&opts.Conn)...),
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 2 {
				return usageErrorf("upload: expected PACKAGE@VERSION and FILE\nhint: otactl upload main@1.2.3 build/app.bin")
			}
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			pkg, ver, ok := strings.Cut(c.Args().Get(0), "@")
			if !ok {
				return usageErrorf("upload: %q: expected PACKAGE@VERSION, e.g. main@1.2.3", c.Args().Get(0))
			}
			opts.Package, opts.Version, opts.File = pkg, ver, c.Args().Get(1)
			return uploadRun(c.Context, sys, opts)
		},
	}
}

// artifactResult is what happened to one artifact.
type artifactResult struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Topic   string `json:"topic"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	// Action is uploaded, replaced, present (the same bytes were already
	// there), verified (no file given; the broker's copy matches the
	// manifest), or with --dry-run: would upload, would replace.
	Action string `json:"action"`
}

func uploadRun(ctx context.Context, sys *System, opts *uploadOptions) error {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	topic, err := cn.topics().Component(opts.Package, opts.Version)
	if err != nil {
		return err
	}
	maxPayload, err := maxPayloadSetting(opts.MaxPayload, cn)
	if err != nil {
		return err
	}
	f, size, err := openArtifact(opts.File, maxPayload)
	if err != nil {
		return err
	}
	defer f.Close()
	client, _, err := opts.Conn.open(ctx, sys)
	if err != nil {
		return err
	}
	defer client.Close()
	res := artifactResult{Package: opts.Package, Version: opts.Version, Topic: topic, Size: size}
	put, err := putArtifact(ctx, sys, client, artifactPut{Topic: topic, Name: opts.Package + "@" + opts.Version, Path: opts.File, File: f, Size: size, Force: opts.Force})
	if err != nil {
		return err
	}
	res.Action, res.SHA256 = put.Action, hex.EncodeToString(put.SHA256[:])
	if opts.Output == "json" {
		return writeJSON(sys.Stdout, res)
	}
	switch res.Action {
	case "present":
		fmt.Fprintf(sys.Stdout, "%s@%s is already on the broker with the same bytes (%d bytes, sha256 %s): nothing sent\n", res.Package, res.Version, res.Size, res.SHA256[:12])
	default:
		fmt.Fprintf(sys.Stdout, "%s %s@%s: %d bytes, sha256 %s..., to %s (read back and verified)\n", res.Action, res.Package, res.Version, res.Size, res.SHA256[:12], topic)
	}
	return nil
}

// maxPayloadSetting is --max-payload, else the profile's, else 0 (none).
func maxPayloadSetting(flag string, cn *connection) (int64, error) {
	if flag != "" {
		n, err := profile.ParseSize(flag)
		if err != nil {
			return 0, usageErrorf("--max-payload: %v", err)
		}
		return n, nil
	}
	return cn.Profile.MaxPayload, nil
}

// maxArtifact is MQTT's own limit on a packet's remaining length, less
// room for the topic and packet id: the largest component a manifest holds.
const maxArtifact = release.MaxComponentSize

// openArtifact opens an artifact file and returns its size, after checking
// that it is a regular file that fits one MQTT message and maxPayload
// (0: none). Nothing is read: the upload streams it.
func openArtifact(path string, maxPayload int64) (*os.File, int64, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, 0, fmt.Errorf("artifact %s does not exist", path)
		}
		return nil, 0, fmt.Errorf("artifact: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("artifact: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("artifact %s is not a regular file", path)
	}
	if err := checkPayloadSize(path, st.Size(), maxPayload); err != nil {
		f.Close()
		return nil, 0, err
	}
	if st.Size() == 0 {
		f.Close()
		return nil, 0, fmt.Errorf("artifact %s is empty: an empty retained message would delete the topic", path)
	}
	return f, st.Size(), nil
}

func checkPayloadSize(name string, size, maxPayload int64) error {
	if size > maxArtifact {
		return fmt.Errorf("artifact %s is %d bytes: more than MQTT can carry in one message (%d)", name, size, maxArtifact)
	}
	if maxPayload > 0 && size > maxPayload {
		return withHint(fmt.Errorf("artifact %s is %s (%d bytes): more than the broker's limit of %d bytes (max-payload)", name, output.HumanBytes(size), size, maxPayload),
			"raise the broker's limit (mosquitto message_size_limit or max_packet_size, EMQX mqtt.max_packet_size) and then max-payload, or use a broker that takes large messages")
	}
	return nil
}

// artifactPut is one artifact file to put on the broker.
type artifactPut struct {
	Topic string
	Name  string // PACKAGE@VERSION
	Path  string
	File  *os.File
	Size  int64
	// Hash, when set, is the manifest's hex SHA-256 for the file: bytes
	// read that do not match it are never published.
	Hash   string
	Force  bool
	DryRun bool
}

// putArtifact makes sure a.Topic retains exactly the file's bytes: it sends
// nothing when the same bytes are already there, refuses different bytes
// unless a.Force, and reads every upload back. With a.DryRun it only says
// what it would do.
func putArtifact(ctx context.Context, sys *System, c *upload.Client, a artifactPut) (upload.PutResult, error) {
	req := upload.PutRequest{Topic: a.Topic, File: a.File, Size: a.Size, Force: a.Force, DryRun: a.DryRun}
	if a.Hash != "" {
		sum, err := hex.DecodeString(a.Hash)
		if err != nil || len(sum) != sha256.Size {
			return upload.PutResult{}, fmt.Errorf("%w: component %s: hash is not SHA-256 hex", release.ErrVerification, a.Name)
		}
		req.SHA256 = (*[32]byte)(sum)
	}
	if a.Size >= minProgress && !sys.StderrTTY {
		req.Sending = func() {
			fmt.Fprintf(sys.Stderr, "uploading %s (%s) to %s\n", a.Name, output.HumanBytes(a.Size), a.Topic)
		}
	}
	res, err := c.PutFile(ctx, req)
	var conflict *upload.ConflictError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &conflict):
		return res, withHint(fmt.Errorf("%w: %s is already published with different bytes (%d bytes, sha256 %s) at %s",
			release.ErrVerification, a.Name, conflict.Size, hex.EncodeToString(conflict.SHA256[:6]), a.Topic),
			"a version's bytes should never change: publish a new version, or replace them with --force")
	case errors.Is(err, upload.ErrArtifactChanged):
		what := "it was checked"
		if a.Hash != "" {
			what = "it was checked: it no longer matches component " + a.Name
		}
		return res, withHint(fmt.Errorf("%w: %s changed since %s (nothing was published)", release.ErrVerification, a.Path, what),
			"is something still writing the file? run again once it is complete")
	}
	return res, fmt.Errorf("upload %s: %w", a.Name, err)
}
