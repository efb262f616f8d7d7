package commands

import (
	"github.com/urfave/cli/v2"
)

func newRolloutCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:  "rollout",
		Usage: "follow a rollout: status, and wait for it in a pipeline",
		Subcommands: []*cli.Command{
			newRolloutStatusCommand(sys),
			newRolloutWaitCommand(sys),
		},
	}
}
