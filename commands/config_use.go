package commands

import (
	"fmt"

	"github.com/otactl/otactl/profile"
)

func configUseRun(sys *System, name string) error {
	if err := profile.Use(sys.Getenv, name); err != nil {
		return err
	}
	fmt.Fprintf(sys.Stderr, "using profile %s\n", name)
	return nil
}
