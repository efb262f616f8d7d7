package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

func newArtifactCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:  "artifact",
		Usage: "list, download and delete the artifacts retained on the broker",
		Subcommands: []*cli.Command{
			newArtifactListCommand(sys),
			newArtifactDownloadCommand(sys),
			newArtifactDeleteCommand(sys),
		},
	}
}

type artifactListOptions struct {
	Conn   connectOptions
	Output string
}

// artifactInfo is one retained artifact.
type artifactInfo struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Topic   string `json:"topic"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
}

func newArtifactListCommand(sys *System) *cli.Command {
	opts := &artifactListOptions{}
	return &cli.Command{
		Name:      "list",
		Usage:     "list the artifacts retained under P.u/c/, with sizes and hashes",
		UsageText: "otactl artifact list [connection flags] [-o json]",
		Description: `Reads every retained message under P.u/c/ and prints package, version, size
and SHA-256. MQTT has no way to list topics: the broker sends every
artifact's bytes, so this takes as long as downloading them all.

Example:
   $ otactl artifact list
   PACKAGE  VERSION  SIZE       SHA256
   main     1.2.3    525.6 KiB  feb982c3fbec352441caddaa85bd5c69ef5feadb5dfc1f57171e88e070771241`,
		Flags: append([]cli.Flag{outputFlag(&opts.Output)}, connectFlags(&opts.Conn)...),
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 0 {
				return usageErrorf("artifact list: unexpected argument %q", c.Args().First())
			}
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			return artifactListRun(c.Context, sys, opts)
		},
	}
}

func artifactListRun(ctx context.Context, sys *System, opts *artifactListOptions) error {
	client, _, err := opts.Conn.open(ctx, sys)
	if err != nil {
		return err
	}
	defer client.Close()
	topics := client.Topics()
	byTopic := map[string]artifactInfo{}
	err = client.ReadRetainedAll(ctx, topics.ComponentsFilter(), func(topic string, payload []byte) {
		pkg, ver, ok := topics.ParseComponent(topic)
		if !ok {
			return
		}
		sum := sha256.Sum256(payload)
		byTopic[topic] = artifactInfo{Package: pkg, Version: ver, Topic: topic, Size: int64(len(payload)), SHA256: hex.EncodeToString(sum[:])}
	})
	if err != nil {
		return err
	}
	list := make([]artifactInfo, 0, len(byTopic))
	for _, a := range byTopic {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Package != list[j].Package {
			return list[i].Package < list[j].Package
		}
		return list[i].Version < list[j].Version
	})
	if opts.Output == "json" {
		return writeJSON(sys.Stdout, map[string]any{"artifacts": list})
	}
	if len(list) == 0 {
		fmt.Fprintln(sys.Stderr, "no artifacts retained under "+topics.ComponentsFilter())
		return nil
	}
	t := output.Table{Header: []string{"PACKAGE", "VERSION", "SIZE", "SHA256"}}
	for _, a := range list {
		size := strconv.FormatInt(a.Size, 10)
		if sys.StdoutTTY {
			size = output.HumanBytes(a.Size)
		}
		t.Rows = append(t.Rows, []string{a.Package, a.Version, size, a.SHA256})
	}
	return t.Write(sys.Stdout, sys.StdoutTTY)
}

type artifactDownloadOptions struct {
	Conn    connectOptions
	Package string
	Version string
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
error.

Example:
   $ otactl artifact download main@1.2.3 -O main-1.2.3.bin
   $ otactl artifact download main@1.2.3 -O - | sha256sum`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output-file", Aliases: []string{"O"}, Usage: "`FILE` to write, or - for standard output", Destination: &opts.Out, Required: true},
			&cli.BoolFlag{Name: "clobber", Usage: "replace FILE if it exists", Destination: &opts.Clobber},
		}, connectFlags(&opts.Conn)...),
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usageErrorf("artifact download: expected PACKAGE@VERSION\nhint: otactl artifact download main@1.2.3 -O main.bin")
			}
			pkg, ver, ok := strings.Cut(c.Args().First(), "@")
			if !ok {
				return usageErrorf("artifact download: %q: expected PACKAGE@VERSION", c.Args().First())
			}
			opts.Package, opts.Version = pkg, ver
			return artifactDownloadRun(c.Context, sys, opts)
		},
	}
}

func artifactDownloadRun(ctx context.Context, sys *System, opts *artifactDownloadOptions) error {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	topic, err := cn.topics().Component(opts.Package, opts.Version)
	if err != nil {
		return err
	}
	out := outFile{Flag: "-O", Path: opts.Out, Dash: true, Options: regularfile.Options{NoClobber: !opts.Clobber}}
	if opts.Out != "-" {
		if err := out.check(); err != nil {
			return clobberHint(err)
		}
	}
	client, _, err := opts.Conn.open(ctx, sys)
	if err != nil {
		return err
	}
	defer client.Close()
	var (
		n     int64
		sum   [32]byte
		found bool
	)
	if opts.Out == "-" {
		n, sum, found, err = client.CopyRetained(ctx, topic, sys.Stdout)
	} else {
		err = out.writeStream(func(w io.Writer) (bool, error) {
			n, sum, found, err = client.CopyRetained(ctx, topic, w)
			return found, err
		})
		err = clobberHint(err)
	}
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

type artifactDeleteOptions struct {
	Conn    connectOptions
	Package string
	Version string
	Force   bool
	Output  string
}

func newArtifactDeleteCommand(sys *System) *cli.Command {
	opts := &artifactDeleteOptions{}
	return &cli.Command{
		Name:      "delete",
		Usage:     "clear an artifact's retained message",
		UsageText: "otactl artifact delete PACKAGE@VERSION [--force] [connection flags] [-o json]",
		Description: `Clears P.u/c/PACKAGE@VERSION. Refuses while a retained desired manifest (the
fleet's, a cohort's or a device's) names the artifact, since devices would
fail to download it, unless --force.

Example:
   $ otactl artifact delete main@1.0.0`,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "delete even while a desired manifest names it", Destination: &opts.Force},
			outputFlag(&opts.Output),
		}, connectFlags(&opts.Conn)...),
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usageErrorf("artifact delete: expected PACKAGE@VERSION")
			}
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			pkg, ver, ok := strings.Cut(c.Args().First(), "@")
			if !ok {
				return usageErrorf("artifact delete: %q: expected PACKAGE@VERSION", c.Args().First())
			}
			opts.Package, opts.Version = pkg, ver
			return artifactDeleteRun(c.Context, sys, opts)
		},
	}
}

func artifactDeleteRun(ctx context.Context, sys *System, opts *artifactDeleteOptions) error {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	topics := cn.topics()
	topic, err := topics.Component(opts.Package, opts.Version)
	if err != nil {
		return err
	}
	client, _, err := opts.Conn.open(ctx, sys)
	if err != nil {
		return err
	}
	defer client.Close()
	users, err := desiredUsers(ctx, client, opts.Package, opts.Version)
	if err != nil {
		return err
	}
	if len(users) > 0 && !opts.Force {
		return withHint(fmt.Errorf("%s@%s is named by the desired manifest of %s", opts.Package, opts.Version, summarizeTargets(users)),
			"publish or unpublish those releases first, or delete anyway with --force")
	}
	_, found, err := client.ReadRetained(ctx, topic)
	if err != nil {
		return err
	}
	action := "deleted"
	if !found {
		action = "absent"
	} else if err := client.Clear(ctx, topic); err != nil {
		return err
	}
	if opts.Output == "json" {
		return writeJSON(sys.Stdout, map[string]any{"package": opts.Package, "version": opts.Version, "topic": topic, "action": action, "usedBy": users})
	}
	if action == "absent" {
		fmt.Fprintf(sys.Stdout, "%s@%s: nothing retained on %s\n", opts.Package, opts.Version, topic)
	} else {
		fmt.Fprintf(sys.Stdout, "%s@%s: deleted %s\n", opts.Package, opts.Version, topic)
	}
	return nil
}

// desiredUsers names the targets whose retained desired manifest holds
// pkg@version: the fleet, cohorts and devices.
func desiredUsers(ctx context.Context, client *upload.Client, pkg, version string) ([]string, error) {
	topics := client.Topics()
	users := []string{}
	check := func(topic string, payload []byte) {
		m, err := release.Parse(payload)
		if err != nil {
			return
		}
		for _, c := range m.Components {
			if c.Package == pkg && c.Version == version {
				tg, ok := topics.ParseDesired(topic)
				if !ok {
					return
				}
				users = append(users, tg.String())
				return
			}
		}
	}
	b, found, err := client.ReadRetained(ctx, topics.Fleet())
	if err != nil {
		return nil, err
	}
	if found {
		check(topics.Fleet(), b)
	}
	for _, filter := range []string{topics.CohortsFilter(), topics.DevicesFilter()} {
		if err := client.ReadRetainedAll(ctx, filter, check); err != nil {
			return nil, err
		}
	}
	sort.Strings(users)
	return slices.Compact(users), nil
}
