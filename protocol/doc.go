// Package protocol is otactl's MQTT topic scheme and its target kinds, as
// docs/protocol.md specifies them: the topics of desired manifests (fleet,
// cohort, device), component binaries, catalog entries, device state
// reports and the end-of-retained probe under a topic prefix; the filters
// that match them; and the one parser of each kind of topic.
//
// Every name that goes into a topic is checked with the naming rules of
// package release (docs/protocol.md#names), so no topic built here holds a
// wildcard, an extra level or an empty level that came from user input.
// The package speaks no MQTT: upload, broker, simulator, report and fleet
// build and read topics through it.
package protocol
