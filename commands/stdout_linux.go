package commands

import (
	"context"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// watchReaderGone calls gone once the reader of the pipe f has closed it
// (poll reports POLLERR or POLLHUP on its write end), until ctx ends: a
// stream that is quiet for a while (watch with no new report) then ends
// at once, as `tail -f | head -1` does, instead of at its next write.
// A file that is not a pipe is not watched.
func watchReaderGone(ctx context.Context, f *os.File, gone func(error)) {
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	// The descriptor through SyscallConn: f.Fd() would put standard
	// output in blocking mode, a change seen by the parent that shares it.
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	fd := -1
	if rc.Control(func(d uintptr) { fd = int(d) }) != nil || fd < 0 {
		return
	}
	go func() {
		for ctx.Err() == nil {
			fds := []unix.PollFd{{Fd: int32(fd)}}
			n, err := unix.Poll(fds, 200)
			switch {
			case err != nil && err != unix.EINTR:
				return
			case n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0:
				gone(syscall.EPIPE)
				return
			case n == 0:
				continue
			}
			time.Sleep(200 * time.Millisecond) // an event we do not wait for
		}
	}()
}
