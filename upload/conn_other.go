//go:build !linux

package upload

import "net"

// quickAck does nothing where TCP_QUICKACK is not available.
func quickAck(*net.TCPConn) {}
