package commands

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/profile"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/upload"
)

type uploadOptions struct {
	artifactOptions
	MaxPayload string
	BlockSize  string
	Output     string
	// Put takes FILE and --force as they are.
	Put publish.ArtifactPut
}

func newUploadCommand(sys *System) *cli.Command {
	opts := &uploadOptions{}
	return &cli.Command{
		Name:      "upload",
		Usage:     "publish an artifact's bytes, retained, and prove them by reading them back",
		UsageText: "otactl upload PACKAGE@VERSION FILE [--force] [--max-payload BYTES] [--block-size BYTES] [connection flags] [-o json]",
		Description: `Publishes FILE retained at QoS 1 to P.u/c/PACKAGE@VERSION, then reads the
retained message back and compares size and SHA-256: a broker that drops
large messages while acknowledging them is caught here. When the broker
already holds the same bytes nothing is sent; when it holds different bytes
the upload is refused (exit 3) unless --force.

A file larger than --max-payload (or the profile's max-payload) is
published in blocks, as is any file with --block-size (or the profile's
block-size): blocks at P.u/c/PACKAGE@VERSION/b/N, each read back, then an
index at P.u/c/PACKAGE@VERSION/blocks; the whole file too when the broker
takes it, for devices that do not know blocks (docs/protocol.md, "Block
artifacts").

A file of 1 MiB or more on an mqtt:// or mqtts:// broker streams from disk
over a second connection (client id ID-s), hashed as it is sent and read
back through a hash, so it is never held in memory; a publish cut short
leaves nothing retained.

Example:
   $ otactl upload main@1.2.3 build/zephyr/zephyr.signed.bin --broker mqtts://broker.example:8883 --username ci
   uploaded main@1.2.3: 538208 bytes, sha256 feb982c3fbec..., to .u/c/main@1.2.3 (read back and verified)`,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "replace different bytes already published under this version", Destination: &opts.Put.Force},
			&cli.StringFlag{Name: "max-payload", Usage: "largest message the broker accepts, e.g. 128k or 16M (default: the profile's max-payload); larger files go in blocks", Destination: &opts.MaxPayload},
			blockSizeFlag(&opts.BlockSize),
			outputFlag(&opts.Output),
			verifyBrokerFlag(&opts.Conn),
		}, connectFlags(&opts.Conn)...),
		Action: runWithArgs(2, "upload", "expected PACKAGE@VERSION and FILE", "otactl upload main@1.2.3 build/app.bin", func(ctx context.Context, args []string) error {
			if err := opts.takeArtifact("upload", args[0]); err != nil {
				return err
			}
			opts.Put.Path = args[1]
			return uploadRun(ctx, sys, opts)
		}),
	}
}

func uploadRun(ctx context.Context, sys *System, opts *uploadOptions) error {
	cn, topic, err := opts.resolve(sys)
	if err != nil {
		return err
	}
	maxPayload, blockSize, err := payloadSettings(opts.MaxPayload, opts.BlockSize, cn)
	if err != nil {
		return err
	}
	f, size, err := publish.OpenArtifact(opts.Put.Path, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	req := publish.BlockPut{ArtifactPut: opts.Put, Whole: !publish.NeedsBlocks(size, maxPayload), MaxPayload: maxPayload}
	req.Topic, req.Name, req.File, req.Size = topic, opts.Package+"@"+opts.Version, f, size
	if req.BlockSize, err = publish.BlockSize(req.Path, size, maxPayload, blockSize); err != nil {
		return err
	}
	res := publish.ArtifactResult{Package: opts.Package, Version: opts.Version, Topic: topic, Size: size, BlockSize: req.BlockSize, Blocks: upload.BlockCount(size, req.BlockSize), Whole: req.Whole && req.BlockSize > 0}
	err = opts.Conn.withEndpoints(ctx, sys, func(client *upload.Client, eps []publish.Endpoint) (err error) {
		obs := publishObserver(sys, opts.Output == "json")
		var put upload.PutResult
		if req.BlockSize > 0 {
			var x *upload.BlockIndex
			if put, x, err = publish.PutBlocks(ctx, publish.FromClient(client), req, obs); x != nil {
				res.BlockSize, res.Blocks = x.BlockSize, x.Count // the blocks retained
			}
		} else {
			put, err = publish.PutArtifact(ctx, client, req.ArtifactPut, obs)
		}
		if err != nil {
			return err
		}
		res.Action, res.SHA256 = put.Action, hex.EncodeToString(put.SHA256[:])
		return publish.ConfirmUpload(ctx, eps, res, obs)
	})
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		return writeJSON(sys.Stdout, "upload", res)
	}
	switch res.Action {
	case "present":
		fmt.Fprintf(sys.Stdout, "%s@%s is already on the broker with the same bytes (%d bytes, sha256 %s): nothing sent\n", res.Package, res.Version, res.Size, res.SHA256[:12])
	default:
		fmt.Fprintf(sys.Stdout, "%s %s@%s: %d bytes, sha256 %s..., to %s%s (read back and verified)\n", res.Action, res.Package, res.Version, res.Size, res.SHA256[:12], topic, blocksNote(res))
	}
	return nil
}

// blocksNote describes how an artifact was cut into blocks, or "".
func blocksNote(a publish.ArtifactResult) string {
	if a.Blocks == 0 {
		return ""
	}
	return fmt.Sprintf(" in %s of %s", text.Plural(a.Blocks, "block"), text.Bytes(a.BlockSize))
}

// blockSizeFlag is --block-size, bound to dest.
func blockSizeFlag(dest *string) cli.Flag {
	return &cli.StringFlag{Name: "block-size", Usage: "publish artifacts in blocks of `SIZE`, e.g. 128k (default: the profile's block-size; blocks only for artifacts over max-payload)", Destination: dest}
}

// payloadSettings are --max-payload and --block-size, each else the
// profile's, else 0 (none).
func payloadSettings(maxFlag, blockFlag string, cn *connection) (maxPayload, blockSize int64, err error) {
	if maxPayload, err = maxPayloadSetting(maxFlag, cn); err != nil {
		return 0, 0, err
	}
	if blockFlag == "" {
		return maxPayload, cn.Profile.BlockSize, nil
	}
	if blockSize, err = profile.ParseSize(blockFlag); err != nil {
		return 0, 0, usageErrorf("--block-size: %v", err)
	}
	return maxPayload, blockSize, nil
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
