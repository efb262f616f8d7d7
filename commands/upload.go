package commands

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

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
	data, err := readArtifact(opts.File, maxPayload)
	if err != nil {
		return err
	}
	client, _, err := opts.Conn.open(ctx, sys)
	if err != nil {
		return err
	}
	defer client.Close()
	res := artifactResult{Package: opts.Package, Version: opts.Version, Topic: topic, Size: int64(len(data))}
	sum := sha256.Sum256(data)
	res.SHA256 = hex.EncodeToString(sum[:])
	res.Action, err = putArtifact(ctx, sys, client, topic, opts.Package+"@"+opts.Version, data, opts.Force, false)
	if err != nil {
		return err
	}
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
// room for the topic and packet id.
const maxArtifact = 268435455 - 70000

// readArtifact reads a whole artifact file: MQTT sends a message in one
// packet, so it must fit in memory. maxPayload (0: none) is checked first.
func readArtifact(path string, maxPayload int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("artifact %s does not exist", path)
		}
		return nil, fmt.Errorf("artifact: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("artifact %s is not a regular file", path)
	}
	if err := checkPayloadSize(path, st.Size(), maxPayload); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("artifact: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxArtifact+1))
	if err != nil {
		return nil, fmt.Errorf("read artifact %s: %w", path, err)
	}
	if err := checkPayloadSize(path, int64(len(data)), maxPayload); err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("artifact %s is empty: an empty retained message would delete the topic", path)
	}
	return data, nil
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

// putArtifact makes sure topic retains exactly data: it sends nothing when
// the same bytes are already there, refuses different bytes unless force,
// and reads every upload back. With dryRun it only says what it would do.
func putArtifact(ctx context.Context, sys *System, c *upload.Client, topic, name string, data []byte, force, dryRun bool) (string, error) {
	existing, found, err := c.ReadRetained(ctx, topic)
	if err != nil {
		return "", err
	}
	action := "uploaded"
	if found {
		if bytes.Equal(existing, data) {
			return "present", nil
		}
		if !force {
			old := sha256.Sum256(existing)
			return "", withHint(fmt.Errorf("%w: %s is already published with different bytes (%d bytes, sha256 %s) at %s",
				release.ErrVerification, name, len(existing), hex.EncodeToString(old[:6]), topic),
				"a version's bytes should never change: publish a new version, or replace them with --force")
		}
		action = "replaced"
	}
	if dryRun {
		if action == "replaced" {
			return "would replace", nil
		}
		return "would upload", nil
	}
	if len(data) >= minProgress && !sys.StderrTTY {
		fmt.Fprintf(sys.Stderr, "uploading %s (%s) to %s\n", name, output.HumanBytes(int64(len(data))), topic)
	}
	if err := c.PublishVerified(ctx, topic, data); err != nil {
		return "", fmt.Errorf("upload %s: %w", name, err)
	}
	return action, nil
}
