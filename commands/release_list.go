package commands

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/catalog"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

func newReleaseListCommand(sys *System) *cli.Command {
	opts := &listOptions{}
	return &cli.Command{
		Name:      "list",
		Aliases:   []string{"ls"},
		Usage:     "list the published releases from the catalog",
		UsageText: "otactl release list [connection flags] [-o json]",
		Description: `Reads the release catalog (the retained entries under P.u/releases/) and
prints each release: sequence number, when it was last published, its
components, the key ids that signed it and where it was published.

Example:
   $ otactl release list --broker mqtt://localhost:1883
   SEQUENCE    PUBLISHED             COMPONENTS  SIGNED BY         TARGETS
   1767225600  2026-01-01T00:00:00Z  main@1.2.3  3f1c0a9b27d4e815  device canary-01, fleet`,
		Flags: opts.flags(),
		Action: runWithoutArgs("release list", "", func(ctx context.Context) error {
			return releaseListRun(ctx, sys, opts)
		}),
	}
}

func releaseListRun(ctx context.Context, sys *System, opts *listOptions) error {
	entries, topics, err := readList(ctx, sys, opts, func(client *upload.Client, topics protocol.Topics) ([]*catalog.Entry, error) {
		return publish.ReadCatalog(ctx, client, topics, publishObserver(sys, true))
	})
	if err != nil {
		return err
	}
	return listing[*catalog.Entry]{
		Schema:   "release-list",
		Key:      "releases",
		Hidden:   true,
		Empty:    "no releases in the catalog under " + topics.ReleasesFilter(),
		Header:   []string{"SEQUENCE", "PUBLISHED", "COMPONENTS", "SIGNED BY", "TARGETS"},
		Row:      catalogRow,
		Item:     func(e *catalog.Entry) any { return catalogItem{e, componentItems(e.Components)} },
		Optional: []string{"SIGNED BY", "PUBLISHED"},
	}.write(sys, opts.Output, entries)
}

// catalogRow is an entry's row in the release list.
func catalogRow(e *catalog.Entry) []string {
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
	return []string{seq, e.PublishedAt, strings.Join(comps, ", "), text.Dash(strings.Join(signers, ", ")), text.Dash(summarizeTargets(targets))}
}

// summarizeTargets keeps a long device list short.
func summarizeTargets(ts []string) string {
	if len(ts) <= 6 {
		return strings.Join(ts, ", ")
	}
	return strings.Join(ts[:5], ", ") + fmt.Sprintf(" and %d more", len(ts)-5)
}

// catalogItem is a catalog entry as release list -o json prints it: its
// components' digests named sha256, as every artifact's in otactl's JSON
// (docs/json.md); the outer field hides the entry's own.
type catalogItem struct {
	*catalog.Entry
	Components []componentItem `json:"components"`
}

// componentItem is a manifest component outside a manifest in JSON
// output: hash is named sha256.
type componentItem struct {
	Package string `json:"package"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	URI     string `json:"uri"`
	Type    string `json:"type,omitempty"`
}

func componentItems(cs []release.Component) []componentItem {
	out := make([]componentItem, 0, len(cs))
	for _, c := range cs {
		out = append(out, componentItem{Package: c.Package, Version: c.Version, SHA256: c.Hash, Size: c.Size, URI: c.URI, Type: c.Type})
	}
	return out
}
