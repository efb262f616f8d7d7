package commands

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/profile"
)

func profileFlag(dest *string) cli.Flag {
	return &cli.StringFlag{Name: "profile", Usage: "profile `NAME` (default: OTACTL_PROFILE, else the current one)", Destination: dest}
}

// loadProfileFile reads the config file (OTACTL_CONFIG, else the one in the
// user's config folder) and returns its path too.
func loadProfileFile(sys *System) (string, *profile.File, error) {
	path, err := profile.DefaultPath(sys.Getenv)
	if err != nil {
		return "", nil, err
	}
	f, err := profile.Load(path)
	if err != nil {
		return "", nil, err
	}
	return path, f, nil
}

// editProfile loads the file, applies fn to the chosen profile and saves.
func editProfile(sys *System, explicit string, create bool, fn func(name string, p *profile.Profile) error) (string, error) {
	path, f, err := loadProfileFile(sys)
	if err != nil {
		return "", err
	}
	if explicit == "" {
		explicit = sys.Getenv("OTACTL_PROFILE")
	}
	name := f.Active(explicit)
	p, ok := f.Profiles[name]
	if !ok {
		// "default" always exists, with no settings until some are set.
		if !create && name != profile.DefaultName {
			return "", fmt.Errorf("profile %q does not exist in %s", name, path)
		}
		if p, err = f.Ensure(name); err != nil {
			return "", usageErrorf("%v", err)
		}
	}
	if err := fn(name, p); err != nil {
		return "", err
	}
	return name, f.Save(path)
}

type configOptions struct {
	Profile string
	Output  string
}
