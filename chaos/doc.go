// Package chaos is otactl's fault and abuse suite: Go tests that run the
// built otactl binary as a user would, against real brokers (the embedded
// one as a process of its own, and mosquitto), while the suite kills the
// broker, fills its disk, races publishers, cuts and stalls the network and
// interrupts otactl. After every run it reads what the broker retains with a
// client of its own and checks the invariants in docs/faults.md.
//
// `go test ./chaos/` runs the quick mode; OTACTL_CHAOS=full (scripts/chaos)
// runs the full one. OTACTL_CHAOS_SEED replays a run's random choices.
package chaos
