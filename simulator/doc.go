// Package simulator is otactl's reference device: a fleet of simulated
// devices, each one real MQTT client, that run the device side of the OTA
// protocol honestly. It is also the protocol's documentation in code: a
// device on real hardware must do what one Device does here.
//
// What a device does (P is the topic prefix, {id} the device id, which is
// also its MQTT client id, and {pkg} the package it runs, e.g. "main"):
//
//  1. Connect with client id {id} and publish a retained state report to
//     Pdevices/{id}/.u/c/{pkg}: state 0 (idle), reason 0, version = the
//     running version. Reports are JSON or CBOR maps with long keys (state,
//     reason, package, version, target) or short ones (s, r, pkg, v, t).
//     The simulator reports again each time it connects (after a reboot
//     or a lost connection: its connection never resumes by itself).
//
//  2. Subscribe to its three desired-manifest topics: P.u/desired (the
//     fleet), Pcohorts/{cohort}/.u/desired (when it has a cohort) and
//     Pdevices/{id}/.u/desired. They are retained, so the current releases
//     arrive at once. A device provisioned with root keys (Config.Roots)
//     subscribes to the key set topic P.u/keys first and follows the key
//     set there (docs/protocol.md#key-set, keyset.Accept): a new one signed
//     by the threshold of the root keys it trusts now, and of its own, with
//     a higher version, gives the release keys manifests are verified with
//     from then on, kept as if in flash; any other is refused and logged
//     (EventKeySetRefused), not reported. The empty manifest ("{}", or CBOR a0: what release
//     unpublish publishes) or an empty payload (a cleared topic) means "no
//     release on that topic": nothing to act on, nothing logged.
//
//  3. Of the manifests held on those topics, act on the valid one with the
//     highest sequenceNumber. A manifest is valid when it parses, its hash
//     is the release digest (docs/protocol.md#release-digest), it has not
//     expired (expires is in the future), and, when the device trusts
//     public keys (Config.Keys, or the release keys of its key set), enough
//     of them signed the digest. A manifest that is invalid for any
//     reason but expiry is refused and reported: state 0, reason 8 (update
//     failed), target = the version it asked for. An expired one is ignored
//     quietly: it is the operator's own deadline.
//
//  4. Anti-rollback: the device keeps, as if in flash, the highest sequence
//     number it has acted on and ignores any manifest whose sequenceNumber
//     is not higher. Retained manifests are delivered again after every
//     reconnect and reboot; this is what keeps them from being applied
//     twice, and what stops an old manifest from being replayed.
//
//  5. Take the manifest's component for {pkg}. When its version equals the
//     running version there is nothing to do (the device SDK compares
//     version strings, no semver order: a rollback is publishing the old
//     version again). Otherwise update:
//     (1,0) downloading, with target = the new version: subscribe to the
//     component's uri, which is a topic relative to P with a leading '/'
//     (/.u/c/{pkg}@{version} is the topic P.u/c/{pkg}@{version}); the
//     retained message there is the whole binary. Stream it through
//     SHA-256 as it arrives, as a device writes it to flash, and check
//     its size and hash against the manifest: a mismatch is (1,5).
//     (2,0) downloaded; (3,0) updating; then reboot into the new image
//     (disconnect, connect again).
//     (3,1) updated, version = the new version and no target; then (0,0)
//     idle on the new version.
//
// Failures are reported with the seed's reasons, in state 1 (downloading)
// for everything up to and including the download (2 flash, 3 RAM, 4
// connection, 5 integrity, 6 type, 7 uri, 10 I/O) and in state 0 (idle, back
// on the old version) for 8, an update that failed after the reboot.
//
// After a failure in state 1 the device does what the Golioth SDK does: it
// reports the failure, then (0,0) idle and (0,11) idle awaiting retry, both
// with target = the version it failed to reach, waits, and tries the same
// component again (the sequence number stays handled). The pause is
// Config.RetryPause (2s by default) and doubles before each further retry;
// the SDK waits 60 s, doubling up to 24 h. Unlike the SDK, which retries
// forever, a device makes at most Config.Attempts attempts (3 by default)
// at a release: after the last, the failure stays its last report and it
// acts again only on a newer release. A newer release that arrives while it
// waits to retry is taken instead. An update failure (8) is final at once:
// the old image that reports it has no memory of the attempt.
//
// The simulator can inject each failure with a probability (see
// ParseFailures); an injected integrity failure flips a byte of the image
// on its way to the hash, which the check then catches, and an injected
// connection failure really drops the connection.
//
// Each device is one light MQTT 3.1.1 connection (conn.go, on
// internal/mqttwire): its own client id, clean session and subscriptions,
// reports published retained with QoS 1 and their PUBACK awaited, one
// reader goroutine and a 2 KiB read buffer; the fleet shares one keeper
// that pings idle connections. The device logic sees it through the
// transport interface only.
package simulator
