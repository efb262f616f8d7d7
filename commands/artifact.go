package commands

import (
	"github.com/urfave/cli/v2"
)

func newArtifactCommand(sys *System) *cli.Command {
	return newGroup("artifact", "list, download and delete the artifacts retained on the broker", "",
		newArtifactListCommand(sys),
		newArtifactDownloadCommand(sys),
		newArtifactDeleteCommand(sys),
	)
}
