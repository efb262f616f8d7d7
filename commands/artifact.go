package commands

import (
	"github.com/urfave/cli/v2"
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
