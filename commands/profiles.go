package commands

import (
	"github.com/urfave/cli/v2"
)

func profileFlag(dest *string) cli.Flag {
	return &cli.StringFlag{Name: "profile", Usage: "profile `NAME` (default: OTACTL_PROFILE, else the current one)", Destination: dest}
}

type configOptions struct {
	Profile string
	Output  string
}
