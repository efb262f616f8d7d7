package commands

import "github.com/otactl/otactl/profile"

func configUnsetRun(sys *System, opts *configOptions, key string) error {
	_, err := profile.Edit(sys.Getenv, opts.Profile, false, func(p *profile.Profile) error {
		if err := p.Unset(key); err != nil {
			return usageErrorf("config unset: %v", err)
		}
		return nil
	})
	return err
}
