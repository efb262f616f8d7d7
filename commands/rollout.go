package commands

import (
	"github.com/urfave/cli/v2"
)

func newRolloutCommand(sys *System) *cli.Command {
	return newGroup("rollout", "staged rollouts: start, resume, abort; follow one: status, wait", "",
		newRolloutStartCommand(sys),
		newRolloutResumeCommand(sys),
		newRolloutAbortCommand(sys),
		newRolloutStatusCommand(sys),
		newRolloutWaitCommand(sys),
	)
}
