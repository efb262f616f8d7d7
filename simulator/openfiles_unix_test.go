//go:build unix

package simulator

import (
	"strings"
	"syscall"
	"testing"
)

// A fleet fits when its sockets and 64 spare fit under the hard limit of
// open files, to which the soft limit is raised; a larger one is refused
// with the way out.
func TestCheckOpenFiles(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip("no RLIMIT_NOFILE:", err)
	}
	if lim.Max > 1<<30 {
		t.Skip("no useful limit of open files")
	}
	fits := int(lim.Max) - 64
	if err := CheckOpenFiles(fits); err != nil {
		t.Errorf("%d devices under a hard limit of %d: %v", fits, lim.Max, err)
	}
	err := CheckOpenFiles(fits + 1)
	if err == nil || !strings.Contains(err.Error(), "--shard I/N") || !strings.Contains(err.Error(), "ulimit -Hn") {
		t.Errorf("%d devices under a hard limit of %d: %v", fits+1, lim.Max, err)
	}
}
