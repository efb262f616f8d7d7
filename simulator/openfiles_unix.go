//go:build unix

package simulator

import (
	"fmt"
	"syscall"
)

// CheckOpenFiles raises the process's soft limit of open files to its
// hard limit (Go does so at start already; this says it) and tells whether
// a fleet of n devices, one connection each, fits under it with room for
// the process's own files.
func CheckOpenFiles(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // nothing to say
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	const spare = 64
	if uint64(n)+spare > lim.Cur {
		return fmt.Errorf("%d devices need %d open files, and this process may open %d (ulimit -Hn)\nhint: run the fleet as several processes, each with --shard I/N, or raise the hard limit", n, n+spare, lim.Cur)
	}
	return nil
}
