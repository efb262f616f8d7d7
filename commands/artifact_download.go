package commands

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/upload"
)

type artifactDownloadOptions struct {
	artifactOptions
	Out     string
	Clobber bool
}

func newArtifactDownloadCommand(sys *System) *cli.Command {
	opts := &artifactDownloadOptions{}
	return &cli.Command{
		Name:      "download",
		Usage:     "write an artifact's retained bytes to a file",
		UsageText: "otactl artifact download PACKAGE@VERSION -O FILE [--clobber] [connection flags]",
		Description: `Reads the retained message at P.u/c/PACKAGE@VERSION and writes it to FILE
(atomically, a regular file only), or to standard output with -O -. An
existing FILE is kept unless --clobber. Prints size and SHA-256 on standard
error. An artifact retained only in blocks is put together from them,
each block checked against the index and the whole against its SHA-256
(exit 3 when one does not match).

Example:
   $ otactl artifact download main@1.2.3 -O main-1.2.3.bin
   $ otactl artifact download main@1.2.3 -O - | sha256sum`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output-file", Aliases: []string{"O"}, Usage: "`FILE` to write, or - for standard output", Destination: &opts.Out, Required: true},
			&cli.BoolFlag{Name: "clobber", Usage: "replace FILE if it exists", Destination: &opts.Clobber},
		}, connectFlags(&opts.Conn)...),
		Action: opts.runWithArtifact("artifact download", "otactl artifact download main@1.2.3 -O main.bin", func(ctx context.Context) error {
			return artifactDownloadRun(ctx, sys, opts)
		}),
	}
}

func artifactDownloadRun(ctx context.Context, sys *System, opts *artifactDownloadOptions) error {
	_, topic, err := opts.resolve(sys)
	if err != nil {
		return err
	}
	out := outFile{Flag: "-O", Path: opts.Out, Dash: true, Options: regularfile.Options{NoClobber: !opts.Clobber}}
	if opts.Out != "-" {
		if err := out.check(); err != nil {
			return clobberHint(err)
		}
	}
	var (
		n     int64
		sum   [32]byte
		found bool
	)
	err = opts.Conn.withClient(ctx, sys, func(client *upload.Client) (err error) {
		if opts.Out == "-" {
			n, sum, found, err = publish.CopyArtifact(ctx, client, topic, sys.Stdout)
			return err
		}
		return clobberHint(out.writeStream(func(w io.Writer) (bool, error) {
			n, sum, found, err = publish.CopyArtifact(ctx, client, topic, w)
			return found, err
		}))
	})
	if err != nil {
		return err
	}
	if !found {
		return withHint(fmt.Errorf("%s@%s is not on the broker (%s)", opts.Package, opts.Version, topic), "list artifacts with 'otactl artifact list'")
	}
	fmt.Fprintf(sys.Stderr, "%s@%s: %d bytes, sha256 %s\n", opts.Package, opts.Version, n, hex.EncodeToString(sum[:]))
	return nil
}

// clobberHint says how to replace an existing file.
func clobberHint(err error) error {
	if errors.Is(err, fs.ErrExist) {
		return withHint(err, "pass --clobber to replace it")
	}
	return err
}
