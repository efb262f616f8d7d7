package commands

import (
	"github.com/urfave/cli/v2"
)

func newRolloutCommand(sys *System) *cli.Command {
	return newGroup("rollout", "staged rollouts: start, resume, abort; follow one: status, wait",
		"A staged rollout (start) publishes a release stage by stage, each gated on its devices, and\nhalts itself on failures: see docs/rollouts.md. status and wait follow any rollout.",
		newRolloutStartCommand(sys),
		newRolloutResumeCommand(sys),
		newRolloutAbortCommand(sys),
		newRolloutStatusCommand(sys),
		newRolloutWaitCommand(sys),
	)
}
