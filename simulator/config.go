package simulator

import (
	"crypto"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// Config describes a simulated fleet.
type Config struct {
	// Conn says how to reach the broker. Each device connects with its id
	// as client id and, when Conn.Password is set and Conn.Username is
	// not, as user name too.
	Conn upload.Options
	// Devices is how many devices to simulate; their ids are IDPrefix and
	// a number from 1, zero-padded to at least four digits.
	Devices  int
	IDPrefix string
	// IDs, when set, are the device ids instead (Devices and IDPrefix are
	// then ignored).
	IDs []string
	// Endpoints, when set, are the brokers the devices are spread over
	// (the i-th device of the fleet connects to Endpoints[i mod len]),
	// instead of Conn.Broker; the other settings of Conn apply to all.
	Endpoints []string
	// Shard and Shards, when Shards > 1, run only the Shard-th (from 1)
	// of Shards equal slices of the fleet's device ids, in id order: N
	// processes with --shard 1/N to N/N run the fleet together.
	Shard, Shards int
	// Ramp is how many devices a second connect for the first time
	// (default DefaultRamp).
	Ramp float64
	// Cohort is every device's cohort, or "".
	Cohort string
	// Package and Version are what each device runs at start.
	Package string
	Version string
	// Keys, when set, are the public keys a manifest must be signed by;
	// Threshold of them (0 means 1). Without keys unsigned manifests are
	// accepted, as the device SDK does.
	Keys      []crypto.PublicKey
	Threshold int
	// Roots, when set, are the root keys the device is provisioned with:
	// it then follows the key set on P.u/keys, accepting a new one only
	// when RootThreshold (0 means 1) of the root keys it trusts signed it
	// and its version is higher (keyset.Accept), and verifies manifests
	// with the release keys of the key set it follows. Keys are the
	// release keys it trusts before its first key set.
	Roots         []crypto.PublicKey
	RootThreshold int
	// Failures are the injected failure probabilities.
	Failures Failures
	// Speed, when positive, is the simulated download speed in bytes per
	// second: a download takes at least size/Speed.
	Speed int64
	// Jitter, when positive, delays each device's start and each update
	// by a random time up to Jitter.
	Jitter time.Duration
	// Reboot is how long a simulated reboot takes (default 500ms).
	Reboot time.Duration
	// FlashSize, when positive, is the largest image a device can store:
	// a bigger component is refused with reason 2.
	FlashSize int64
	// Attempts is how many attempts a device makes at one release before
	// it gives up on it (default DefaultAttempts); RetryPause is the pause
	// before the first retry (default DefaultRetryPause), doubled before
	// each further one. Each attempt meets the injected failures afresh.
	Attempts   int
	RetryPause time.Duration
	// DownloadTimeout bounds waiting for a component (default 30s, plus
	// the time its size needs at 128 KiB/s); a component that never
	// arrives is reported as reason 7, its uri names nothing.
	DownloadTimeout time.Duration
	// Encoding is "json", "cbor" or "mixed"; Keys "long", "short" or
	// "mixed". Mixed gives each device one of the four combinations in
	// turn, so that a watcher sees every variant.
	Encoding string
	KeyNames string
	// Seed makes the injected failures and jitter reproducible.
	Seed int64
	// Now is the clock manifests' expiry is checked against (default
	// time.Now).
	Now func() time.Time
	// OnEvent, when set, is called for everything a device does, from the
	// devices' goroutines.
	OnEvent func(Event)
}

// Failure kinds and the reasons they are reported with.
var failureReasons = map[string]report.Reason{
	"flash":      report.ReasonNotEnoughFlash,
	"ram":        report.ReasonOutOfRAM,
	"connection": report.ReasonConnectionLost,
	"integrity":  report.ReasonIntegrityCheckFailed,
	"type":       report.ReasonUnsupportedPackageType,
	"uri":        report.ReasonInvalidURI,
	"update":     report.ReasonUpdateFailed,
	"io":         report.ReasonIOError,
}

// FailureKinds lists the failure kinds ParseFailures accepts.
func FailureKinds() []string {
	kinds := make([]string, 0, len(failureReasons))
	for k := range failureReasons {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// Failures maps a failure kind to the probability, 0 to 1, that an update
// attempt fails that way.
type Failures map[string]float64

// ParseFailures reads "integrity=5%,flash=1%,update=0.5%": kinds from
// FailureKinds, each with a percentage (or a fraction from 0 to 1 without
// the % sign).
func ParseFailures(s string) (Failures, error) {
	f := Failures{}
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	for _, part := range strings.Split(s, ",") {
		kind, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("failure %q: want KIND=PERCENT, e.g. integrity=5%%", part)
		}
		if _, known := failureReasons[kind]; !known {
			return nil, fmt.Errorf("failure kind %q: use %s", kind, strings.Join(FailureKinds(), ", "))
		}
		pct := strings.HasSuffix(val, "%")
		p, err := strconv.ParseFloat(strings.TrimSuffix(val, "%"), 64)
		if err != nil {
			return nil, fmt.Errorf("failure %s=%s: not a number", kind, val)
		}
		if pct {
			p /= 100
		}
		if p < 0 || p > 1 {
			return nil, fmt.Errorf("failure %s=%s: must be between 0%% and 100%%", kind, val)
		}
		if _, dup := f[kind]; dup {
			return nil, fmt.Errorf("failure kind %s given twice", kind)
		}
		f[kind] = p
	}
	return f, nil
}

// String is the form ParseFailures reads.
func (f Failures) String() string {
	var parts []string
	for _, k := range FailureKinds() {
		if p, ok := f[k]; ok {
			parts = append(parts, k+"="+strconv.FormatFloat(p*100, 'g', -1, 64)+"%")
		}
	}
	return strings.Join(parts, ",")
}

// ids returns the device ids of the fleet.
func (c *Config) ids() ([]string, error) {
	if len(c.IDs) > 0 {
		seen := map[string]bool{}
		for _, id := range c.IDs {
			if err := release.ValidateDeviceID(id); err != nil {
				return nil, err
			}
			if seen[id] {
				return nil, fmt.Errorf("device id %s given twice", id)
			}
			seen[id] = true
		}
		return c.sharded(c.IDs)
	}
	if c.Devices < 1 {
		return nil, fmt.Errorf("%d devices: want at least 1", c.Devices)
	}
	ids, err := DeviceIDs(c.IDPrefix, c.Devices)
	if err != nil {
		return nil, err
	}
	return c.sharded(ids)
}

// sharded returns ids when the shard of them is not empty.
func (c *Config) sharded(ids []string) ([]string, error) {
	if lo, hi := c.shard(len(ids)); hi <= lo {
		return nil, fmt.Errorf("shard %d/%d of %d devices has none", c.Shard, c.Shards, len(ids))
	}
	return ids, nil
}

func (c *Config) ramp() float64 {
	if c.Ramp > 0 {
		return c.Ramp
	}
	return DefaultRamp
}

// DeviceIDs are the ids a fleet of n devices gets: prefix and a number
// from 1, zero-padded to at least four digits (sim-0001).
func DeviceIDs(prefix string, n int) ([]string, error) {
	width := max(4, len(strconv.Itoa(n)))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%0*d", prefix, width, i+1)
		if i == 0 || i == n-1 {
			if err := release.ValidateDeviceID(ids[i]); err != nil {
				return nil, fmt.Errorf("--id-prefix %q: %w", prefix, err)
			}
		}
	}
	return ids, nil
}

func (c *Config) check() error {
	if err := release.ValidatePackage(c.Package); err != nil {
		return err
	}
	if err := release.ValidateVersion(c.Version); err != nil {
		return err
	}
	if c.Cohort != "" {
		if err := release.ValidateCohort(c.Cohort); err != nil {
			return err
		}
	}
	switch c.Encoding {
	case "", "mixed", "json", "cbor":
	default:
		return fmt.Errorf("report encoding %q: use json, cbor or mixed", c.Encoding)
	}
	switch c.KeyNames {
	case "", "mixed", "long", "short":
	default:
		return fmt.Errorf("report keys %q: use long, short or mixed", c.KeyNames)
	}
	if c.Threshold < 0 || c.Threshold > len(c.Keys) {
		return fmt.Errorf("threshold %d: want 0 to the %d keys given", c.Threshold, len(c.Keys))
	}
	if c.Shards < 0 || (c.Shards > 1 && (c.Shard < 1 || c.Shard > c.Shards)) {
		return fmt.Errorf("shard %d/%d: want I/N with 1 <= I <= N", c.Shard, c.Shards)
	}
	if c.Ramp < 0 {
		return fmt.Errorf("ramp %g devices a second: must not be negative", c.Ramp)
	}
	if c.RootThreshold < 0 || c.RootThreshold > len(c.Roots) {
		return fmt.Errorf("root threshold %d: want 0 to the %d root keys given", c.RootThreshold, len(c.Roots))
	}
	return nil
}

// reportFormat is the encoding and key names the i-th device uses.
func (c *Config) reportFormat(i int) (enc string, short bool) {
	enc = c.Encoding
	switch enc {
	case "mixed":
		enc = [2]string{"json", "cbor"}[i%2]
	case "":
		enc = "json"
	}
	switch c.KeyNames {
	case "mixed":
		short = (i/2)%2 == 1
	case "short":
		short = true
	}
	return enc, short
}

// ParseShard reads --shard I/N: the I-th (from 1) of N slices of a fleet.
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("shard %q: want I/N with 1 <= I <= N, e.g. 2/4", s)
	}
	return i, n, nil
}

// ParseRamp reads --ramp N/s (or N): devices connecting a second, above 0.
func ParseRamp(s string) (float64, error) {
	r, err := strconv.ParseFloat(strings.TrimSuffix(s, "/s"), 64)
	if err != nil || r <= 0 || math.IsInf(r, 0) {
		return 0, fmt.Errorf("ramp %q: want devices a second, e.g. 500/s", s)
	}
	return r, nil
}
