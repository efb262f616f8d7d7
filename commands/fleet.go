package commands

import (
	"context"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// dialer connects to the broker a command was told to use.
type dialer func(ctx context.Context) (*upload.Client, error)

// with connects with d, runs work on the connection and closes it.
func (d dialer) with(ctx context.Context, work func(*upload.Client) error) error {
	client, err := d(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	return work(client)
}

// newFleetSource feeds a new fleet from client on the system's clock,
// with warnings on its standard error. With cohorts it also follows them:
// members lists the devices of one cohort, when known; otherwise they are
// inferred from reports.
func newFleetSource(sys *System, client *upload.Client, stale time.Duration, cohorts, members []string) *fleet.Source {
	return fleet.NewSource(client, fleet.SourceOptions{
		Now: sys.Now, Stale: stale, Cohorts: cohorts, Members: members, Warnings: sys.Stderr,
	})
}

// cohortFlag is the --cohort flag of the commands that pick devices by
// cohort: repeatable, each value one cohort; usage says what the devices
// picked are for.
func cohortFlag(dest *[]string, usage string) cli.Flag {
	return stringsFlag(&cli.StringSliceFlag{Name: "cohort", Usage: usage + " (repeatable)"}, dest)
}

// deviceSelection is what --device and --devices-file pick: device ids
// (a set, shown even when silent) and at most one glob pattern.
type deviceSelection struct {
	IDs     []string
	Pattern string
}

// selectDevices reads --device values (an id, or a GLOB pattern holding
// *, ? or [) and the ids of --devices-file.
func selectDevices(values []string, file string) (deviceSelection, error) {
	var sel deviceSelection
	seen := map[string]bool{}
	add := func(id, where string) error {
		if err := release.ValidateDeviceID(id); err != nil {
			return usageErrorf("%s: %v", where, err)
		}
		if !seen[id] {
			seen[id] = true
			sel.IDs = append(sel.IDs, id)
		}
		return nil
	}
	for _, v := range values {
		if strings.ContainsAny(v, "*?[\\") {
			if sel.Pattern != "" {
				return sel, withHint(usageErrorf("--device: one pattern at most (%q and %q)", sel.Pattern, v), "device ids may be repeated, patterns may not")
			}
			if err := (fleet.Filter{Device: v}).Validate(); err != nil {
				return sel, usageErrorf("--device: %v", err)
			}
			sel.Pattern = v
			continue
		}
		if err := add(v, "--device"); err != nil {
			return sel, err
		}
	}
	if file != "" {
		ids, err := readDevicesFile(file)
		if err != nil {
			return sel, err
		}
		for _, id := range ids {
			if err := add(id, "devices file "+file); err != nil {
				return sel, err
			}
		}
	}
	return sel, nil
}

// fleetViewOptions are the options of the commands that show the fleet,
// watch and rollout status: the connection, the filters and -o.
type fleetViewOptions struct {
	Conn    connectOptions
	Filters fleetFilterOptions
	Output  string
}

// flags are the connection and filter flags, then own, then -o.
func (o *fleetViewOptions) flags(own ...cli.Flag) []cli.Flag {
	flags := append(connectFlags(&o.Conn), fleetFilterFlags(&o.Filters)...)
	return append(append(flags, own...), outputFlag(&o.Output))
}

// view connects with dial and reads, with read, the fleet o's filters
// pick, refusing an empty fleet from a broker that does not deliver
// retained messages to wildcard subscriptions (fleet.CheckEmpty) and
// warning of a cohort no device is known to be in, then runs show on it
// and closes the connection.
func (o *fleetViewOptions) view(ctx context.Context, sys *System, dial dialer, read func(*fleet.Source, context.Context) error, show func(*fleet.Source, fleet.Filter) error) error {
	flt, sel, err := o.Filters.resolve()
	if err != nil {
		return err
	}
	return dial.with(ctx, func(client *upload.Client) error {
		src := newFleetSource(sys, client, o.Filters.Stale, o.Filters.Cohorts, sel.IDs)
		if err := read(src, ctx); err != nil {
			return err
		}
		if err := src.CheckEmpty(ctx); err != nil {
			return err
		}
		warnUnknownCohorts(sys, src)
		return show(src, flt)
	})
}

// fleetFilterOptions are the flags that pick rows of the fleet, shared by
// watch and rollout status.
type fleetFilterOptions struct {
	Package     string
	Version     string
	Devices     []string
	DevicesFile string
	Cohorts     []string
	States      []string
	Failed      bool
	Stale       time.Duration
}

// fleetFilterFlags binds the filter flags into o.
func fleetFilterFlags(o *fleetFilterOptions) []cli.Flag {
	return append(packageFlags("only `PACKAGE`", "", &o.Package),
		&cli.StringFlag{Name: "version", Usage: "only devices whose target is `VERSION`", Destination: &o.Version},
		stringsFlag(&cli.StringSliceFlag{Name: "device", Aliases: []string{"d"}, Usage: "only device `ID`, or devices matching a GLOB like 'sensor-*' (repeatable)"}, &o.Devices),
		&cli.StringFlag{Name: "devices-file", Usage: "only the device ids listed in `FILE`, one a line ('#' starts a comment)", Destination: &o.DevicesFile},
		cohortFlag(&o.Cohorts, "only cohort `NAME`: the devices listed, or those reporting its release"),
		stringsFlag(&cli.StringSliceFlag{Name: "state", Usage: "only devices in `STATE`: idle, downloading, downloaded, updated or a code (repeatable)"}, &o.States),
		&cli.BoolFlag{Name: "failed", Usage: "only failed and retrying devices", Destination: &o.Failed},
		&cli.DurationFlag{Name: "stale", Usage: "a device not done and silent for `DURATION` is stale", Value: fleet.DefaultStale, Destination: &o.Stale},
	)
}

// resolve checks the filter options and turns them into a filter and the
// devices selected by id.
func (o *fleetFilterOptions) resolve() (fleet.Filter, deviceSelection, error) {
	flt := fleet.Filter{Package: o.Package, Version: o.Version, FailedOnly: o.Failed}
	if err := checkNames(o.Package, o.Version, o.Cohorts); err != nil {
		return flt, deviceSelection{}, err
	}
	if o.Stale <= 0 {
		return flt, deviceSelection{}, usageErrorf("--stale %s: must be positive", o.Stale)
	}
	for _, s := range o.States {
		st, err := report.ParseState(s)
		if err != nil {
			return flt, deviceSelection{}, usageErrorf("--state: %v", err)
		}
		flt.States = append(flt.States, st)
	}
	sel, err := selectDevices(o.Devices, o.DevicesFile)
	if err != nil {
		return flt, sel, err
	}
	flt.Device = sel.Pattern
	flt.Devices = sel.IDs
	if len(sel.IDs) == 0 {
		flt.Cohorts = o.Cohorts
	}
	return flt, sel, nil
}

// checkNames checks the --package, --version and --cohort values given
// (empty ones are not checked) with the naming rules.
func checkNames(pkg, version string, cohorts []string) error {
	if pkg != "" {
		if err := release.ValidatePackage(pkg); err != nil {
			return usageErrorf("--package: %v", err)
		}
	}
	if version != "" {
		if err := release.ValidateVersion(version); err != nil {
			return usageErrorf("--version: %v", err)
		}
	}
	for _, cohort := range cohorts {
		if err := release.ValidateCohort(cohort); err != nil {
			return usageErrorf("--cohort: %v", err)
		}
	}
	return nil
}

// describe names the filters in a few words, for titles.
func (o *fleetFilterOptions) describe() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	add("package", o.Package)
	add("version", o.Version)
	for _, c := range o.Cohorts {
		add("cohort", c)
	}
	for _, d := range o.Devices {
		add("device", d)
	}
	add("devices from", o.DevicesFile)
	for _, s := range o.States {
		add("state", s)
	}
	if o.Failed {
		parts = append(parts, "failed")
	}
	return strings.Join(parts, ", ")
}
