package commands

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/catalog"
	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/upload"
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
}

const targetCategory = "Target"

func targetFlags(o *targetOptions, withPercent bool) []cli.Flag {
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "cohort", Usage: "a cohort's desired topic (repeatable)", Category: targetCategory, Destination: &o.Cohorts},
		&cli.StringSliceFlag{Name: "device", Usage: "a device's desired topic (repeatable)", Category: targetCategory, Destination: &o.Devices},
		&cli.StringFlag{Name: "devices-file", Usage: "a `FILE` of device ids, one a line ('#' starts a comment)", Category: targetCategory, Destination: &o.DevicesFile},
	}
	if withPercent {
		flags = append(flags, &cli.Float64Flag{Name: "percent", Usage: "`N` percent of the devices known from their state reports, chosen by a stable hash of the device id", Category: targetCategory, Destination: &o.Percent,
			Action: func(*cli.Context, float64) error { o.percentSet = true; return nil }})
	}
	return flags
}

// target is one desired topic.
type target struct {
	Kind  protocol.TargetKind
	Name  string
	Topic string
}

func (t target) String() string {
	return protocol.Target{Kind: t.Kind, Name: t.Name}.String()
}

// resolve checks every name and returns the static targets; the fleet when
// nothing else is chosen. Percent targets come later, from the broker.
func (o *targetOptions) resolve(topics protocol.Topics) ([]target, error) {
	if o.percentSet && (o.Percent <= 0 || o.Percent > 100) {
		return nil, usageErrorf("--percent must be more than 0 and at most 100, not %g", o.Percent)
	}
	var out []target
	seen := map[string]bool{}
	add := func(t target) {
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
		add(target{protocol.Cohort, c, topic})
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
		topic, err := topics.Device(d)
		if err != nil {
			return nil, usageErrorf("device: %v", err)
		}
		add(target{protocol.Device, d, topic})
	}
	if len(out) == 0 && !o.percentSet {
		out = append(out, target{protocol.Fleet, "", topics.Fleet()})
	}
	return out, nil
}

// single is the one target of commands that read one desired topic.
func (o *targetOptions) single(topics protocol.Topics) (target, error) {
	n := len(o.Cohorts.Value()) + len(o.Devices.Value())
	if n > 1 || o.DevicesFile != "" {
		return target{}, usageErrorf("give at most one --cohort or --device")
	}
	ts, err := o.resolve(topics)
	if err != nil {
		return target{}, err
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

// percentChosen says whether a device falls in the first pct percent:
// the first 8 bytes of SHA-256 of its id, as a fraction of 2^64, below
// pct/100. The fraction is fixed per device, so raising pct only adds
// devices.
func percentChosen(device string, pct float64) bool {
	if pct >= 100 {
		return true
	}
	sum := sha256.Sum256([]byte(device))
	frac := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
	return frac < pct/100
}

// knownDevices lists the devices that retain a state report, sorted.
func knownDevices(ctx context.Context, c *upload.Client) ([]string, error) {
	topics := c.Topics()
	set := map[string]bool{}
	err := c.ReadRetainedAll(ctx, topics.ReportsFilter(), func(topic string, _ []byte) {
		if d, _, ok := topics.ParseReport(topic); ok {
			set[d] = true
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out, nil
}

// percentTargets are the device targets chosen by --percent among the
// devices that report.
func percentTargets(ctx context.Context, c *upload.Client, pct float64) ([]target, int, error) {
	devices, err := knownDevices(ctx, c)
	if err != nil {
		return nil, 0, err
	}
	if len(devices) == 0 {
		return nil, 0, withHint(fmt.Errorf("--percent: no device state reports under %s", c.Topics().ReportsFilter()),
			"devices must publish retained reports before a percentage of them can be chosen; use --device or --cohort")
	}
	var out []target
	for _, d := range devices {
		if percentChosen(d, pct) {
			topic, err := c.Topics().Device(d)
			if err != nil {
				continue // ParseReport checked the id
			}
			out = append(out, target{protocol.Device, d, topic})
		}
	}
	return out, len(devices), nil
}

func catalogTargets(ts []target, at string) []catalog.Target {
	out := make([]catalog.Target, 0, len(ts))
	for _, t := range ts {
		out = append(out, catalog.Target{Kind: t.Kind, Name: t.Name, At: at})
	}
	return out
}
