package commands

import "github.com/otactl/otactl/profile"

func configDeleteRun(sys *System, name string) error {
	return profile.Delete(sys.Getenv, name)
}
