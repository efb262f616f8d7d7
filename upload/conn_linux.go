package upload

import (
	"net"
	"syscall"
)

// quickAck makes the kernel send the acknowledgement of what was just read
// now instead of delaying it. Linux turns TCP_QUICKACK off again by itself,
// so it is set after every read. A failure only means a later ACK.
func quickAck(c *net.TCPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
