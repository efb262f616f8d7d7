package commands

import (
	"github.com/urfave/cli/v2"
)

func newReleaseCommand(sys *System) *cli.Command {
	return newGroup("release", "create, sign, verify, show and publish release manifests", "",
		newReleaseCreateCommand(sys),
		newReleaseSignCommand(sys),
		newReleaseDigestCommand(sys),
		newReleaseAttachCommand(sys),
		newReleaseVerifyCommand(sys),
		newReleaseShowCommand(sys),
		newReleasePublishCommand(sys),
		newReleaseListCommand(sys),
		newReleaseCurrentCommand(sys),
		newReleaseRollbackCommand(sys),
		newReleaseUnpublishCommand(sys),
	)
}
