package upload

import (
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/otactl/otactl/internal/text"
)

// DroppedError is a streaming connection that dropped before a step was
// done. When it was a publish, Total is the payload's size and Sent how
// much of it was written.
type DroppedError struct {
	What        string
	Sent, Total int64
	Err         error
}

func (e *DroppedError) Error() string {
	switch {
	case e.Total > 0 && e.Sent >= e.Total:
		return fmt.Sprintf("%s: the connection to the broker dropped after all %d bytes were sent, before the broker acknowledged them (%s)", e.What, e.Total, netReason(e.Err))
	case e.Total > 0:
		return fmt.Sprintf("%s: the connection to the broker dropped after %d of %d bytes (%s)", e.What, e.Sent, e.Total, netReason(e.Err))
	}
	return fmt.Sprintf("%s: the connection to the broker dropped (%s)", e.What, netReason(e.Err))
}

// netReason is the gist of a network error: "broken pipe" rather than the
// addresses and system calls around it.
func netReason(err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed by the broker"
	case errors.As(err, &errno):
		return errno.Error()
	}
	return text.FirstLine(err.Error())
}

func (e *DroppedError) Unwrap() error { return e.Err }

// Hint says what a dropped connection means for what is retained.
func (e *DroppedError) Hint() string {
	if e.Total > 0 {
		return "a message that was not sent whole is never retained: run again. If it always drops at about the same point, the broker may limit packet size (mosquitto max_packet_size, EMQX mqtt.max_packet_size): check its log"
	}
	return "check the broker and the network, and run again"
}
