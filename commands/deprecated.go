package commands

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"
)

// Old spellings of flags keep working for a release as hidden flags that
// set what the new flag sets and say, on standard error, what to use
// instead. docs/deprecations.md lists them.

// deprecatedAlias is a hidden copy of f under the name old, whose use
// warns that --f's name replaces it. It has f's default, since urfave/cli
// writes each flag's default to its destination.
func deprecatedAlias(old string, f cli.Flag) cli.Flag {
	now := f.Names()[0]
	warn := func(c *cli.Context) {
		fmt.Fprintf(c.App.ErrWriter, "warning: %s is deprecated: use --%s\n", dashes(old), now)
	}
	switch f := f.(type) {
	case *cli.DurationFlag:
		action := f.Action
		return &cli.DurationFlag{Name: old, Hidden: true, Value: f.Value, Destination: f.Destination, Action: func(c *cli.Context, v time.Duration) error {
			warn(c)
			if action != nil {
				return action(c, v)
			}
			return nil
		}}
	case *cli.StringFlag:
		action := f.Action
		return &cli.StringFlag{Name: old, Hidden: true, Value: f.Value, Destination: f.Destination, Action: func(c *cli.Context, v string) error {
			warn(c)
			if action != nil {
				return action(c, v)
			}
			return nil
		}}
	case *cli.StringSliceFlag:
		action := f.Action
		return &cli.StringSliceFlag{Name: old, Hidden: true, Destination: f.Destination, Action: func(c *cli.Context, v []string) error {
			warn(c)
			if action != nil {
				return action(c, v)
			}
			return nil
		}}
	}
	panic(fmt.Sprintf("commands: a deprecated alias of a %T flag: add it to deprecatedAlias", f))
}

// packageFlags are --package, and -p, its old short name: -p is --pubkey.
func packageFlags(usage, value string, dest *string) []cli.Flag {
	f := &cli.StringFlag{Name: "package", Usage: usage, Value: value, Destination: dest}
	return []cli.Flag{f, deprecatedAlias("p", f)}
}
