package commands

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

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
			var err error
			if opts.Package, opts.Version, err = packageVersionArg(c, "artifact delete", ""); err != nil {
				return err
			}
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
