package commands

import (
	"github.com/urfave/cli/v2"
)

func newRolloutCommand(sys *System) *cli.Command {
	return newGroup("rollout", "follow a rollout: status, and wait for it in a pipeline", "",
		newRolloutStatusCommand(sys),
		newRolloutWaitCommand(sys),
	)
}
