package commands

import (
	"fmt"

	"github.com/otactl/otactl/profile"
)

func configSetRun(sys *System, opts *configOptions, key, value string) error {
	// A bad value on the command line is a usage error, as a bad flag value
	// is; the same value found in the file is exit 1.
	if err := profile.RefuseSecret(key, value); err != nil {
		return withExitCode(ExitUsage, err)
	}
	name, err := profile.Edit(sys.Getenv, opts.Profile, true, func(p *profile.Profile) error {
		if err := p.Set(key, value); err != nil {
			return usageErrorf("config set: %v", err)
		}
		if err := profile.CheckUploadSetting(key, value); err != nil {
			return usageErrorf("config set: %v", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(sys.Stderr, "profile %s: %s set\n", name, key)
	return nil
}
