package commands

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

type artifactDeleteOptions struct {
	artifactOptions
	Force  bool
	Output string
	Yes    bool
}

func newArtifactDeleteCommand(sys *System) *cli.Command {
	opts := &artifactDeleteOptions{}
	return &cli.Command{
		Name:      "delete",
		Aliases:   []string{"rm"},
		Usage:     "clear an artifact's retained message",
		UsageText: "otactl artifact delete PACKAGE@VERSION [--force] [connection flags] [-o json]",
		Description: `Clears P.u/c/PACKAGE@VERSION, and an artifact published in blocks
entirely: its index (first), then every block. Refuses while a retained desired manifest (the
fleet's, a cohort's or a device's) names the artifact, since devices would
fail to download it, unless --force. On a terminal it asks first; --yes
skips the question, and nothing asks when standard input is not a terminal.

Example:
   $ otactl artifact delete main@1.0.0`,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "delete even while a desired manifest names it", Destination: &opts.Force},
			outputFlag(&opts.Output),
			yesFlag(&opts.Yes),
		}, connectFlags(&opts.Conn)...),
		Action: opts.runWithArtifact("artifact delete", "", func(ctx context.Context) error {
			return artifactDeleteRun(ctx, sys, opts)
		}),
	}
}

func artifactDeleteRun(ctx context.Context, sys *System, opts *artifactDeleteOptions) error {
	cn, topic, err := opts.resolve(sys)
	if err != nil {
		return err
	}
	// Every device that would download it loses it: ask first.
	if err := confirm(sys, opts.Yes, fmt.Sprintf("delete artifact %s@%s (%s on %s), for every device?", opts.Package, opts.Version, topic, brokerName(cn))); err != nil {
		return err
	}
	var (
		users  []string
		action string
	)
	err = opts.Conn.withClient(ctx, sys, func(client *upload.Client) (err error) {
		users, action, err = deleteArtifact(ctx, client, topic, opts)
		return err
	})
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		return writeJSON(sys.Stdout, "artifact-delete", map[string]any{"package": opts.Package, "version": opts.Version, "topic": topic, "action": action, "usedBy": users})
	}
	if action == "absent" {
		fmt.Fprintf(sys.Stdout, "%s@%s: nothing retained on %s\n", opts.Package, opts.Version, topic)
		fmt.Fprintln(sys.Stderr, hiddenHint)
	} else {
		fmt.Fprintf(sys.Stdout, "%s@%s: deleted %s\n", opts.Package, opts.Version, topic)
	}
	return nil
}

// deleteArtifact clears the artifact's topic, unless a desired manifest
// names it and opts.Force is not set, and returns who names it and the
// action: "deleted", or "absent" when nothing was retained.
func deleteArtifact(ctx context.Context, client *upload.Client, topic string, opts *artifactDeleteOptions) (users []string, action string, err error) {
	users, err = desiredUsers(ctx, client, opts.Package, opts.Version)
	if err != nil {
		return nil, "", err
	}
	if len(users) > 0 && !opts.Force {
		return nil, "", withHint(fmt.Errorf("%s@%s is named by the desired manifest of %s", opts.Package, opts.Version, summarizeTargets(users)),
			"publish or unpublish those releases first, or delete anyway with --force")
	}
	found, err := publish.ClearArtifact(ctx, publish.FromClient(client), topic)
	if err != nil {
		return nil, "", err
	}
	if !found {
		return users, "absent", nil
	}
	return users, "deleted", nil
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
