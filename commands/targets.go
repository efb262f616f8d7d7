package commands

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/publish"
)

// targetOptions choose the desired topics a command acts on: the fleet
// (default), cohorts, devices, a devices file, or a percentage of the
// devices that report.
type targetOptions struct {
	Cohorts     cli.StringSlice
	Devices     cli.StringSlice
	DevicesFile string
	Percent     float64
	percentSet  bool
	// globsOK: --device takes patterns, matched among reporting devices
	// when publishing (release publish).
	globsOK bool
	globs   []string // the patterns among the devices, once resolved
}

const targetCategory = "Target"

// dryRunFlag is --dry-run of the commands that publish.
func dryRunFlag(dest *bool) cli.Flag {
	return &cli.BoolFlag{Name: "dry-run", Usage: "print the plan and send nothing", Destination: dest}
}

// targetedOptions are the options every command on desired manifests
// has: the connection, the targets and -o.
type targetedOptions struct {
	Conn    connectOptions
	Targets targetOptions
	Output  string
}

// flags are a command's own flags, then -o, the target flags (--percent
// too when withPercent) and the connection flags.
func (o *targetedOptions) flags(withPercent bool, own ...cli.Flag) []cli.Flag {
	flags := append(own, outputFlag(&o.Output))
	flags = append(flags, targetFlags(&o.Targets, withPercent)...)
	return append(flags, connectFlags(&o.Conn)...)
}

func targetFlags(o *targetOptions, withPercent bool) []cli.Flag {
	// The commands that can read the reporting devices (--percent) take
	// patterns in --device too.
	o.globsOK = withPercent
	device := "a device's desired topic (repeatable)"
	if withPercent {
		device = "a device's desired topic, or those of the reporting devices a `GLOB` such as 'sensor-*' matches (repeatable)"
	}
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "cohort", Usage: "a cohort's desired topic (repeatable)", Category: targetCategory, Destination: &o.Cohorts},
		&cli.StringSliceFlag{Name: "device", Usage: device, Category: targetCategory, Destination: &o.Devices},
		&cli.StringFlag{Name: "devices-file", Usage: "a `FILE` of device ids, one a line ('#' starts a comment)", Category: targetCategory, Destination: &o.DevicesFile},
	}
	if withPercent {
		flags = append(flags, &cli.Float64Flag{Name: "percent", Usage: "`N` percent of the devices known from their state reports, chosen by a stable hash of the device id", Category: targetCategory, Destination: &o.Percent,
			Action: func(*cli.Context, float64) error { o.percentSet = true; return nil }})
	}
	return flags
}

// resolve checks every name and returns the static targets; the fleet when
// nothing else is chosen. Percent targets come later, from the broker.
func (o *targetOptions) resolve(topics protocol.Topics) ([]publish.Target, error) {
	if o.percentSet && (o.Percent <= 0 || o.Percent > 100) {
		return nil, usageErrorf("--percent must be more than 0 and at most 100, not %g", o.Percent)
	}
	var out []publish.Target
	o.globs = nil
	seen := map[string]bool{}
	add := func(t publish.Target) {
		if !seen[t.Topic] {
			seen[t.Topic] = true
			out = append(out, t)
		}
	}
	for _, c := range o.Cohorts.Value() {
		topic, err := topics.Cohort(c)
		if err != nil {
			return nil, usageErrorf("--cohort: %v", err)
		}
		add(publish.Target{Kind: protocol.Cohort, Name: c, Topic: topic})
	}
	devices := append([]string{}, o.Devices.Value()...)
	if o.DevicesFile != "" {
		ids, err := readDevicesFile(o.DevicesFile)
		if err != nil {
			return nil, err
		}
		devices = append(devices, ids...)
	}
	for _, d := range devices {
		if publish.IsGlob(d) {
			if !o.globsOK {
				return nil, usageErrorf("--device %q: a pattern is for release publish; name the devices here", d)
			}
			if _, err := path.Match(d, ""); err != nil {
				return nil, usageErrorf("--device %q: %v", d, err)
			}
			o.globs = append(o.globs, d) // matched among the reporting devices when publishing
			continue
		}
		topic, err := topics.Device(d)
		if err != nil {
			return nil, usageErrorf("device: %v", err)
		}
		add(publish.Target{Kind: protocol.Device, Name: d, Topic: topic})
	}
	if len(out) == 0 && !o.percentSet && len(o.globs) == 0 {
		out = append(out, publish.Target{Kind: protocol.Fleet, Topic: topics.Fleet()})
	}
	return out, nil
}

// single is the one target of commands that read one desired topic.
func (o *targetOptions) single(topics protocol.Topics) (publish.Target, error) {
	n := len(o.Cohorts.Value()) + len(o.Devices.Value())
	if n > 1 || o.DevicesFile != "" {
		return publish.Target{}, usageErrorf("give at most one --cohort or --device")
	}
	ts, err := o.resolve(topics)
	if err != nil {
		return publish.Target{}, err
	}
	return ts[0], nil
}

func readDevicesFile(path string) ([]string, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("devices file %s does not exist", path)
		}
		return nil, fmt.Errorf("devices file: %w", err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		ids = append(ids, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("devices file %s: %w", path, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("devices file %s holds no device id", path)
	}
	return ids, nil
}
