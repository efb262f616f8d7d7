// Package report reads and writes the state reports devices publish about
// each firmware package (docs/protocol.md#state-reports): JSON or CBOR maps
// with long or short keys, as the Golioth device SDKs send them.
package report

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// State is where a device is in updating one package.
type State int

// The states of the seed protocol.
const (
	Idle        State = 0
	Downloading State = 1
	Downloaded  State = 2
	Updated     State = 3
)

var stateNames = [...]string{"idle", "downloading", "downloaded", "updated"}

// String is the state's lowercase name, or its number when the code is not
// one of the four known states.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return strconv.Itoa(int(s))
}

// ParseState reads a state from its name ("downloading") or its code ("1").
func ParseState(s string) (State, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	for i, n := range stateNames {
		if n == name {
			return State(i), nil
		}
	}
	if n, err := strconv.Atoi(name); err == nil {
		return State(n), nil
	}
	return 0, fmt.Errorf("unknown state %q: use idle, downloading, downloaded, updated or a number", s)
}

// Reason says why a device sent a report: the outcome of its last step.
type Reason int

// The reasons of the seed protocol, and the two the device SDK added.
const (
	ReasonReady                  Reason = 0
	ReasonUpdated                Reason = 1
	ReasonNotEnoughFlash         Reason = 2
	ReasonOutOfRAM               Reason = 3
	ReasonConnectionLost         Reason = 4
	ReasonIntegrityCheckFailed   Reason = 5
	ReasonUnsupportedPackageType Reason = 6
	ReasonInvalidURI             Reason = 7
	ReasonUpdateFailed           Reason = 8
	ReasonUnsupportedProtocol    Reason = 9
	ReasonIOError                Reason = 10
	ReasonAwaitingRetry          Reason = 11
)

var reasonNames = [...]string{
	"ready",
	"updated",
	"not-enough-flash",
	"out-of-ram",
	"connection-lost",
	"integrity-check-failed",
	"unsupported-package-type",
	"invalid-uri",
	"update-failed",
	"unsupported-protocol",
	"io-error",
	"awaiting-retry",
}

var reasonSentences = [...]string{
	"ready state",
	"firmware updated successfully",
	"not enough flash memory for the new firmware package",
	"out of RAM during downloading process",
	"connection lost during downloading process",
	"integrity check failure for new downloaded package",
	"unsupported package type",
	"invalid URI",
	"firmware update failed",
	"unsupported protocol",
	"I/O error",
	"awaiting retry",
}

// String is the reason's short name ("integrity-check-failed"), or its
// number when the code is unknown.
func (r Reason) String() string {
	if r >= 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return strconv.Itoa(int(r))
}

// Describe is the reason as a sentence, as the seed protocol words it.
func (r Reason) Describe() string {
	if r >= 0 && int(r) < len(reasonSentences) {
		return reasonSentences[r]
	}
	return "unknown reason " + strconv.Itoa(int(r))
}

// Failure reports whether the reason is a failure: 2 to 10.
func (r Reason) Failure() bool { return r >= ReasonNotEnoughFlash && r <= ReasonIOError }

// Report is one device's state report for one package. Device, Topic and
// Received come from the message that carried it, not from the payload.
type Report struct {
	Device   string    `json:"device"`
	Package  string    `json:"package"`
	State    State     `json:"state"`
	Reason   Reason    `json:"reason"`
	Version  string    `json:"version"` // the version the device runs
	Target   string    `json:"target"`  // the version it is updating to, if it said
	Topic    string    `json:"topic"`
	Received time.Time `json:"time"`
}

// UpdatedTo reports whether the report shows the device running version v:
// it reports version v with state Updated or Idle
// (docs/protocol.md#state-reports).
func (r Report) UpdatedTo(v string) bool {
	return v != "" && r.Version == v && (r.State == Updated || r.State == Idle)
}

// Failed reports whether the report carries a failure reason, 2 to 10.
func (r Report) Failed() bool { return r.Reason.Failure() }

// Pending reports whether the report leaves the device still expected to
// move: no failure reason (0, 1, 11 awaiting retry, or an unknown code).
// A device that is UpdatedTo its target is done whatever Pending says:
// check that first.
func (r Report) Pending() bool { return !r.Failed() }

// reportJSON is the -o json form of a report: the codes and their names.
type reportJSON struct {
	Device     string    `json:"device"`
	Package    string    `json:"package"`
	State      State     `json:"state"`
	StateName  string    `json:"stateName"`
	Reason     Reason    `json:"reason"`
	ReasonName string    `json:"reasonName"`
	Version    string    `json:"version"`
	Target     string    `json:"target"`
	Time       time.Time `json:"time,omitzero"`
	Topic      string    `json:"topic"`
}

// MarshalJSON writes the report as otactl prints it with -o json: device,
// package, state and stateName, reason and reasonName, version, target,
// time (RFC 3339, left out when unknown) and topic.
func (r Report) MarshalJSON() ([]byte, error) {
	return json.Marshal(reportJSON{
		Device:     r.Device,
		Package:    r.Package,
		State:      r.State,
		StateName:  r.State.String(),
		Reason:     r.Reason,
		ReasonName: r.Reason.String(),
		Version:    r.Version,
		Target:     r.Target,
		Time:       r.Received.UTC(),
		Topic:      r.Topic,
	})
}

// UnmarshalJSON reads what MarshalJSON writes; the names are ignored, the
// codes count. It is not the decoder of device payloads: that is Decode.
func (r *Report) UnmarshalJSON(b []byte) error {
	var j reportJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Report{
		Device:   j.Device,
		Package:  j.Package,
		State:    j.State,
		Reason:   j.Reason,
		Version:  j.Version,
		Target:   j.Target,
		Topic:    j.Topic,
		Received: j.Time,
	}
	return nil
}
