package report

import (
	"errors"
	"fmt"

	"github.com/otactl/otactl/release"
)

// Desired is what a watcher needs of a desired manifest retained on a
// desired topic: its sequence number and the version it gives each
// package. A cleared topic, or the empty map that means "no release", is a
// Desired with no versions.
type Desired struct {
	Sequence int64
	Versions map[string]string // package -> version
}

// DecodeDesired reads the payload retained on a desired topic
// (docs/protocol.md#topics and #manifest), JSON or CBOR. An empty payload (a cleared topic) and
// an empty map give a Desired with no versions. A payload that does not
// parse, or whose form is invalid (release.Manifest.Validate), is an error:
// devices do not act on it, so it decides no target. The digest, the
// signatures and the expiry are not checked: that is verifying a release,
// not watching one.
func DecodeDesired(payload []byte) (Desired, error) {
	if len(payload) == 0 {
		return Desired{}, nil
	}
	m, err := release.Parse(payload)
	if errors.Is(err, release.ErrNoRelease) {
		return Desired{}, nil
	}
	if err != nil {
		return Desired{}, fmt.Errorf("desired manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return Desired{}, fmt.Errorf("desired manifest: %w", err)
	}
	d := Desired{Sequence: m.SequenceNumber, Versions: make(map[string]string, len(m.Components))}
	for _, c := range m.Components {
		d.Versions[c.Package] = c.Version
	}
	return d, nil
}
