package commands

import (
	"context"
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/upload"
)

func newArtifactListCommand(sys *System) *cli.Command {
	opts := &listOptions{}
	return &cli.Command{
		Name:      "list",
		Aliases:   []string{"ls"},
		Usage:     "list the artifacts retained under P.u/c/, with sizes and hashes",
		UsageText: "otactl artifact list [connection flags] [-o json]",
		Description: `Reads every retained message under P.u/c/ and prints package, version, size
and SHA-256, and, for an artifact published in blocks, its blocks (from
its index at P.u/c/PACKAGE@VERSION/blocks; one retained only in blocks
shows the index's size and SHA-256). MQTT has no way to list topics: the
broker sends every artifact's bytes, so this takes as long as downloading
them all.

Example:
   $ otactl artifact list
   PACKAGE  VERSION  SIZE       BLOCKS         SHA256
   main     1.2.3    525.6 KiB  -              feb982c3fbec352441caddaa85bd5c69ef5feadb5dfc1f57171e88e070771241
   main     1.3.0    1.0 MiB    8 of 128.0 KiB 5e0f2b0ba5c3d1bd8e3e4b8e2c6a9e1f0a5c4b3d2e1f0a9b8c7d6e5f4a3b2c1d`,
		Flags: opts.flags(),
		Action: runWithoutArgs("artifact list", "", func(ctx context.Context) error {
			return artifactListRun(ctx, sys, opts)
		}),
	}
}

func artifactListRun(ctx context.Context, sys *System, opts *listOptions) error {
	list, topics, err := readList(ctx, sys, opts, func(client *upload.Client, topics protocol.Topics) ([]publish.RetainedArtifact, error) {
		return publish.ListArtifacts(ctx, client, topics)
	})
	if err != nil {
		return err
	}
	return listing[publish.RetainedArtifact]{
		Schema: "artifact-list",
		Key:    "artifacts",
		Hidden: true,
		Empty:  "no artifacts retained under " + topics.ComponentsFilter(),
		Header: []string{"PACKAGE", "VERSION", "SIZE", "BLOCKS", "SHA256"},
		Row: func(a publish.RetainedArtifact) []string {
			size, blocks := strconv.FormatInt(a.Size, 10), "-"
			if sys.StdoutTTY {
				size = text.Bytes(a.Size)
			}
			if a.Blocks > 0 {
				blocks = fmt.Sprintf("%d of %s", a.Blocks, text.Bytes(a.BlockSize))
			}
			if !a.Whole {
				blocks += " only"
			}
			if a.Problem != "" {
				fmt.Fprintf(sys.Stderr, "warning: %s@%s: %s\n", a.Package, a.Version, a.Problem)
				blocks = "bad index"
			}
			return []string{a.Package, a.Version, size, blocks, a.SHA256}
		},
	}.write(sys, opts.Output, list)
}
