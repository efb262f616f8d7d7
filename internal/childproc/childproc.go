// Package childproc ends the processes the test harnesses start (brokers,
// NATS nodes): a signal first, then SIGKILL for one that does not end in
// time.
package childproc

import (
	"os"
	"time"
)

// End sends sig to p and waits until exited is closed (by whoever waits
// for p); a process still running after grace is killed, and End waits
// for it to be gone.
func End(p *os.Process, sig os.Signal, exited <-chan struct{}, grace time.Duration) {
	_ = p.Signal(sig)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = p.Kill()
		<-exited
	}
}
