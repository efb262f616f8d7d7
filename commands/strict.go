package commands

import (
	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/profile"
)

// strictOption is the --strict flag of the commands that lint a release
// (create, sign, publish, rollback).
type strictOption struct {
	value, given bool
}

func strictFlag(o *strictOption) cli.Flag {
	return &cli.BoolFlag{Name: "strict", Destination: &o.value,
		Usage:  "refuse the release (exit 1, before anything is sent or written) when the device-compatibility lint finds anything devices on the Golioth firmware SDK would refuse or misread (env OTACTL_STRICT, profile setting strict; --strict=false overrides them)",
		Action: func(*cli.Context, bool) error { o.given = true; return nil }}
}

// resolve is strict mode, by profile.Strict: the flag, else OTACTL_STRICT,
// else the profile p (nil: the active one, from the config file).
func (o *strictOption) resolve(sys *System, p *profile.Profile) (bool, error) {
	var flag *bool
	if o.given {
		flag = &o.value
	}
	return profile.Strict(flag, sys.Getenv, p)
}
