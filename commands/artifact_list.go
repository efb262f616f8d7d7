package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/upload"
)

// artifactInfo is one retained artifact.
type artifactInfo struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Topic   string `json:"topic"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
}

func newArtifactListCommand(sys *System) *cli.Command {
	opts := &listOptions{}
	return &cli.Command{
		Name:      "list",
		Aliases:   []string{"ls"},
		Usage:     "list the artifacts retained under P.u/c/, with sizes and hashes",
		UsageText: "otactl artifact list [connection flags] [-o json]",
		Description: `Reads every retained message under P.u/c/ and prints package, version, size
and SHA-256. MQTT has no way to list topics: the broker sends every
artifact's bytes, so this takes as long as downloading them all.

Example:
   $ otactl artifact list
   PACKAGE  VERSION  SIZE       SHA256
   main     1.2.3    525.6 KiB  feb982c3fbec352441caddaa85bd5c69ef5feadb5dfc1f57171e88e070771241`,
		Flags: opts.flags(),
		Action: runWithoutArgs("artifact list", "", func(ctx context.Context) error {
			return artifactListRun(ctx, sys, opts)
		}),
	}
}

func artifactListRun(ctx context.Context, sys *System, opts *listOptions) error {
	var (
		topics  protocol.Topics
		byTopic = map[string]artifactInfo{}
	)
	err := opts.Conn.withClient(ctx, sys, func(client *upload.Client) error {
		topics = client.Topics()
		return client.ReadRetainedAll(ctx, topics.ComponentsFilter(), func(topic string, payload []byte) {
			pkg, ver, ok := topics.ParseComponent(topic)
			if !ok {
				return
			}
			sum := sha256.Sum256(payload)
			byTopic[topic] = artifactInfo{Package: pkg, Version: ver, Topic: topic, Size: int64(len(payload)), SHA256: hex.EncodeToString(sum[:])}
		})
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
	return listing[artifactInfo]{
		Schema: "artifact-list",
		Key:    "artifacts",
		Empty:  "no artifacts retained under " + topics.ComponentsFilter(),
		Header: []string{"PACKAGE", "VERSION", "SIZE", "SHA256"},
		Row: func(a artifactInfo) []string {
			size := strconv.FormatInt(a.Size, 10)
			if sys.StdoutTTY {
				size = text.Bytes(a.Size)
			}
			return []string{a.Package, a.Version, size, a.SHA256}
		},
	}.write(sys, opts.Output, list)
}
