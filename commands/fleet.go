package commands

import (
	"context"
	"strings"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// dialer connects to the broker a command was told to use.
type dialer func(ctx context.Context) (*upload.Client, error)

// newFleetSource feeds a new fleet from client on the system's clock,
// with warnings on its standard error. With a cohort it also follows that
// cohort: members lists its devices, when known; otherwise they are
// inferred from reports.
func newFleetSource(sys *System, client *upload.Client, stale time.Duration, cohort string, members []string) *fleet.Source {
	return fleet.NewSource(client, fleet.SourceOptions{
		Now: sys.Now, Stale: stale, Cohort: cohort, Members: members, Warnings: sys.Stderr,
	})
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
				return sel, usageErrorf("--device: one pattern at most (%q and %q)\nhint: device ids may be repeated, patterns may not", sel.Pattern, v)
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
