package commands

import (
	"github.com/urfave/cli/v2"
)

func newReleaseCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:  "release",
		Usage: "create, sign, verify, show and publish release manifests",
		Subcommands: []*cli.Command{
			newReleaseCreateCommand(sys),
			newReleaseSignCommand(sys),
			newReleaseVerifyCommand(sys),
			newReleaseShowCommand(sys),
			newReleasePublishCommand(sys),
			newReleaseListCommand(sys),
			newReleaseCurrentCommand(sys),
			newReleaseRollbackCommand(sys),
			newReleaseUnpublishCommand(sys),
		},
	}
}
