package protocol

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/otactl/otactl/release"
)

// Topics builds and parses the topics of docs/protocol.md#topics under a
// prefix. Every name is checked with the naming rules of the release
// package, so no topic built here holds a wildcard or an empty level that
// came from user input. The zero Topics has the empty prefix: the seed's
// topics.
type Topics struct {
	prefix string
}

// The levels of the scheme, below the prefix.
const (
	desiredLevel  = ".u/desired"
	keySetLevel   = ".u/keys"
	componentRoot = ".u/c/"
	releaseRoot   = ".u/releases/"
	probeRoot     = ".u/otactl/probe/"
	rolloutRoot   = ".u/rollout/"
	doctorRoot    = ".u/doctor/"
	cohortRoot    = "cohorts/"
	deviceRoot    = "devices/"
	deviceDesired = "/" + desiredLevel
	deviceReport  = "/" + componentRoot
)

// NewTopics checks a topic prefix and returns the topics under it. The
// prefix is prepended verbatim ("acme/" gives "acme/.u/desired"). It may be
// empty or start with "/" (old device clients subscribe with a leading
// slash), but must not hold wildcards, NUL, empty levels elsewhere or start
// with "$" (broker system topics).
func NewTopics(prefix string) (Topics, error) {
	if prefix == "" {
		return Topics{}, nil
	}
	bad := func(why string) (Topics, error) {
		return Topics{}, fmt.Errorf("topic prefix %q: %s", prefix, why)
	}
	switch {
	case len(prefix) > 1024:
		return bad("longer than 1024 bytes")
	case !utf8.ValidString(prefix):
		return bad("not valid UTF-8")
	case strings.ContainsAny(prefix, "+#\x00"):
		return bad("must not hold '+', '#' or NUL")
	case strings.HasPrefix(prefix, "$"):
		return bad("must not start with '$' (broker system topics)")
	case strings.Contains(prefix, "//"):
		return bad("must not hold an empty level ('//')")
	}
	for _, r := range prefix {
		if r < 0x20 || r == 0x7f {
			return bad("must not hold control characters")
		}
	}
	return Topics{prefix: prefix}, nil
}

// Prefix is the topic prefix.
func (t Topics) Prefix() string { return t.prefix }

// Fleet is the fleet's desired manifest topic: P.u/desired.
func (t Topics) Fleet() string { return t.prefix + desiredLevel }

// KeySet is the topic of the signed key set the fleet follows: P.u/keys
// (docs/protocol.md#key-set).
func (t Topics) KeySet() string { return t.prefix + keySetLevel }

// Cohort is a cohort's desired manifest topic: Pcohorts/{cohort}/.u/desired.
func (t Topics) Cohort(name string) (string, error) {
	if err := release.ValidateCohort(name); err != nil {
		return "", err
	}
	return t.prefix + cohortRoot + name + deviceDesired, nil
}

// Device is a device's desired manifest topic: Pdevices/{device}/.u/desired.
func (t Topics) Device(id string) (string, error) {
	if err := release.ValidateDeviceID(id); err != nil {
		return "", err
	}
	return t.prefix + deviceRoot + id + deviceDesired, nil
}

// DeviceRoot is the start of every topic of one device, its desired
// manifest's and its state reports': Pdevices/{device}/.
func (t Topics) DeviceRoot(id string) (string, error) {
	if err := release.ValidateDeviceID(id); err != nil {
		return "", err
	}
	return t.prefix + deviceRoot + id + "/", nil
}

// Component is a component binary's topic: P.u/c/{package}@{version}.
func (t Topics) Component(pkg, version string) (string, error) {
	if err := release.ValidatePackage(pkg); err != nil {
		return "", err
	}
	// ValidateVersion refuses '+': MQTT 3.1.1 section 4.7.1 forbids
	// wildcards in a topic name, and brokers refuse or misroute them.
	if err := release.ValidateVersion(version); err != nil {
		return "", err
	}
	return t.prefix + componentRoot + pkg + "@" + version, nil
}

// ComponentsRoot is the start of every component binary's topic: P.u/c/.
func (t Topics) ComponentsRoot() string { return t.prefix + componentRoot }

// ComponentURI resolves a manifest component's uri ("/.u/c/main@1.2.3",
// relative to the prefix) to its topic, refusing a uri that is not exactly
// a component topic.
func (t Topics) ComponentURI(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, "/"+componentRoot)
	pkg, ver, ok2 := strings.Cut(rest, "@")
	if !ok || !ok2 {
		return "", fmt.Errorf("component uri %q: want /.u/c/PACKAGE@VERSION", uri)
	}
	return t.Component(pkg, ver)
}

// Release is a release catalog entry's topic: P.u/releases/{sequence}.
func (t Topics) Release(seq int64) (string, error) {
	if seq <= 0 {
		return "", fmt.Errorf("sequence number %d: must be positive", seq)
	}
	return t.prefix + releaseRoot + strconv.FormatInt(seq, 10), nil
}

// Report is a device state report's topic: Pdevices/{device}/.u/c/{package}.
func (t Topics) Report(device, pkg string) (string, error) {
	if err := release.ValidateDeviceID(device); err != nil {
		return "", err
	}
	if err := release.ValidatePackage(pkg); err != nil {
		return "", err
	}
	return t.prefix + deviceRoot + device + deviceReport + pkg, nil
}

// Probe is the topic of one end-of-retained probe:
// P.u/otactl/probe/{client id}/{nonce}. otactl publishes it, not retained,
// to learn that a broker has sent every retained message of a read.
func (t Topics) Probe(clientID, nonce string) string {
	return t.prefix + probeRoot + clientID + "/" + nonce
}

// Doctor is the root of one run of broker checks (otactl doctor, and the
// wildcard probe of an empty fleet): P.u/doctor/{nonce}/. Every probe
// message of the run is published, retained, below it and cleared
// afterwards.
func (t Topics) Doctor(nonce string) string {
	return t.prefix + doctorRoot + nonce + "/"
}

// RolloutState is the topic of the retained state of the prefix's staged
// rollout (otactl rollout start): P.u/rollout/state.
func (t Topics) RolloutState() string { return t.prefix + rolloutRoot + "state" }

// RolloutLock is the topic of the retained lock that one 'rollout start'
// at a time holds: P.u/rollout/lock.
func (t Topics) RolloutLock() string { return t.prefix + rolloutRoot + "lock" }

// ReportsFilter matches every device's state reports: Pdevices/+/.u/c/+.
func (t Topics) ReportsFilter() string { return t.prefix + deviceRoot + "+" + deviceReport + "+" }

// ComponentsFilter matches every component binary: P.u/c/+.
func (t Topics) ComponentsFilter() string { return t.prefix + componentRoot + "+" }

// ReleasesFilter matches every catalog entry: P.u/releases/+.
func (t Topics) ReleasesFilter() string { return t.prefix + releaseRoot + "+" }

// CohortsFilter matches every cohort's desired topic: Pcohorts/+/.u/desired.
func (t Topics) CohortsFilter() string { return t.prefix + cohortRoot + "+" + deviceDesired }

// DevicesFilter matches every device's desired topic: Pdevices/+/.u/desired.
func (t Topics) DevicesFilter() string { return t.prefix + deviceRoot + "+" + deviceDesired }

// DevicesProtocol matches every topic of the update protocol under the
// devices' root, their desired manifests and state reports among them,
// and nothing else a device keeps there (telemetry, logs):
// Pdevices/+/.u/#.
func (t Topics) DevicesProtocol() string { return t.prefix + deviceRoot + "+/.u/#" }

// InReports tells whether ReportsFilter matches topic: Pdevices/X/.u/c/Y
// with X and Y single levels, whatever their names.
func (t Topics) InReports(topic string) bool {
	rest, ok := t.cut(topic, deviceRoot)
	if !ok {
		return false
	}
	device, pkg, ok := strings.Cut(rest, deviceReport)
	return ok && !strings.Contains(device, "/") && !strings.Contains(pkg, "/")
}

// ProbesFilter matches every end-of-retained probe: P.u/otactl/probe/#.
func (t Topics) ProbesFilter() string { return t.prefix + probeRoot + "#" }

// ParseComponent splits a component topic into package and version.
func (t Topics) ParseComponent(topic string) (pkg, version string, ok bool) {
	rest, ok := t.cut(topic, componentRoot)
	if !ok {
		return "", "", false
	}
	pkg, version, ok = strings.Cut(rest, "@")
	if !ok || release.ValidatePackage(pkg) != nil || release.ValidateVersion(version) != nil {
		return "", "", false
	}
	return pkg, version, true
}

// ParseReport splits a state report topic, Pdevices/{device}/.u/c/{package},
// into its device id and package. ok is false when the topic has another
// shape, or when the device id or the package breaks the naming rules.
// device and pkg share topic's memory.
func (t Topics) ParseReport(topic string) (device, pkg string, ok bool) {
	rest, ok := t.cut(topic, deviceRoot)
	if !ok {
		return "", "", false
	}
	device, pkg, ok = strings.Cut(rest, deviceReport)
	if !ok || release.ValidateDeviceID(device) != nil || release.ValidatePackage(pkg) != nil {
		return "", "", false
	}
	return device, pkg, true
}

// ParseRelease returns the sequence number of a catalog entry topic.
func (t Topics) ParseRelease(topic string) (int64, bool) {
	rest, ok := t.cut(topic, releaseRoot)
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || seq <= 0 || strconv.FormatInt(seq, 10) != rest {
		return 0, false
	}
	return seq, true
}

// ParseDesired names the target of a desired manifest topic.
func (t Topics) ParseDesired(topic string) (Target, bool) {
	if rest, ok := strings.CutPrefix(topic, t.prefix); ok && rest == desiredLevel {
		return FleetTarget(), true
	}
	if rest, ok := t.cut(topic, cohortRoot); ok {
		if n, ok := strings.CutSuffix(rest, deviceDesired); ok && release.ValidateCohort(n) == nil {
			return CohortTarget(n), true
		}
	}
	if rest, ok := t.cut(topic, deviceRoot); ok {
		if n, ok := strings.CutSuffix(rest, deviceDesired); ok && release.ValidateDeviceID(n) == nil {
			return DeviceTarget(n), true
		}
	}
	return Target{}, false
}

// cut returns what follows the prefix and then root in topic.
func (t Topics) cut(topic, root string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, t.prefix)
	if !ok {
		return "", false
	}
	return strings.CutPrefix(rest, root)
}
