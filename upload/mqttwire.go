package upload

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The MQTT 3.1.1 packets the streaming connection (stream.go) speaks: the
// least needed to publish one large retained message from a file and to
// read one back through a hash, never holding either whole. Section
// numbers refer to the MQTT 3.1.1 standard (OASIS, 2014).

// Control packet types (section 2.2.1).
const (
	pktConnect     = 1
	pktConnack     = 2
	pktPublish     = 3
	pktPuback      = 4
	pktSubscribe   = 8
	pktSuback      = 9
	pktUnsubscribe = 10
	pktUnsuback    = 11
	pktPingreq     = 12
	pktPingresp    = 13
	pktDisconnect  = 14
)

// maxRemaining is the largest remaining length a packet can declare
// (section 2.2.3): 268,435,455 bytes.
const maxRemaining = 268435455

// maxControl is the largest packet other than PUBLISH the streaming
// connection accepts: a SUBACK for its few filters is 5 bytes.
const maxControl = 64

// errMalformed marks bytes from the broker that are not MQTT 3.1.1.
var errMalformed = errors.New("malformed MQTT packet from the broker")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// appendVarint appends n (0 to maxRemaining) as a remaining length.
func appendVarint(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// appendString appends a length-prefixed UTF-8 string (section 1.5.3); the
// caller keeps s within 65535 bytes.
func appendString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

func checkString(what, s string) error {
	if len(s) > 65535 {
		return fmt.Errorf("%s of %d bytes: MQTT allows at most 65535", what, len(s))
	}
	return nil
}

// connectPacket is what CONNECT carries: a clean session, no will.
type connectPacket struct {
	ClientID  string
	Username  string // sent when not empty
	Password  string // sent when Username is set and Password is not empty
	KeepAlive uint16 // seconds
}

// appendConnect appends a CONNECT packet (section 3.1).
func appendConnect(b []byte, p connectPacket) ([]byte, error) {
	if err := checkString("client id", p.ClientID); err != nil {
		return b, err
	}
	if err := checkString("user name", p.Username); err != nil {
		return b, err
	}
	if err := checkString("password", p.Password); err != nil {
		return b, err
	}
	flags := byte(0x02) // clean session
	n := 10 + 2 + len(p.ClientID)
	if p.Username != "" {
		flags |= 0x80
		n += 2 + len(p.Username)
		if p.Password != "" {
			flags |= 0x40
			n += 2 + len(p.Password)
		}
	}
	b = append(b, pktConnect<<4)
	b = appendVarint(b, n)
	b = appendString(b, "MQTT")
	b = append(b, 4, flags) // protocol level 4: MQTT 3.1.1
	b = binary.BigEndian.AppendUint16(b, p.KeepAlive)
	b = appendString(b, p.ClientID)
	if flags&0x80 != 0 {
		b = appendString(b, p.Username)
	}
	if flags&0x40 != 0 {
		b = appendString(b, p.Password)
	}
	return b, nil
}

// appendSubscribe appends a SUBSCRIBE packet (section 3.8) asking for
// QoS 0 on every filter.
func appendSubscribe(b []byte, id uint16, filters ...string) []byte {
	n := 2
	for _, f := range filters {
		n += 2 + len(f) + 1
	}
	b = append(b, pktSubscribe<<4|0x02)
	b = appendVarint(b, n)
	b = binary.BigEndian.AppendUint16(b, id)
	for _, f := range filters {
		b = appendString(b, f)
		b = append(b, 0)
	}
	return b
}

// appendUnsubscribe appends an UNSUBSCRIBE packet (section 3.10).
func appendUnsubscribe(b []byte, id uint16, filters ...string) []byte {
	n := 2
	for _, f := range filters {
		n += 2 + len(f)
	}
	b = append(b, pktUnsubscribe<<4|0x02)
	b = appendVarint(b, n)
	b = binary.BigEndian.AppendUint16(b, id)
	for _, f := range filters {
		b = appendString(b, f)
	}
	return b
}

// appendPublishHeader appends the fixed and variable header of a PUBLISH
// (section 3.3) whose payload of size bytes the caller writes next. qos is
// 0 or 1; id is used for QoS 1 only.
func appendPublishHeader(b []byte, topic string, qos byte, retain bool, id uint16, size int64) ([]byte, error) {
	if err := checkString("topic", topic); err != nil {
		return b, err
	}
	n := int64(2 + len(topic))
	if qos > 0 {
		n += 2
	}
	if size < 0 || n+size > maxRemaining {
		return b, fmt.Errorf("a message of %d bytes to %s does not fit one MQTT packet (at most %d bytes with its topic)", size, topic, maxRemaining)
	}
	first := byte(pktPublish<<4) | qos<<1
	if retain {
		first |= 0x01
	}
	b = append(b, first)
	b = appendVarint(b, int(n+size))
	b = appendString(b, topic)
	if qos > 0 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	return b, nil
}

// appendPingreq and appendDisconnect append the two packets without a body.
func appendPingreq(b []byte) []byte    { return append(b, pktPingreq<<4, 0) }
func appendDisconnect(b []byte) []byte { return append(b, pktDisconnect<<4, 0) }

// fixedHeader is the start of every packet (section 2.2).
type fixedHeader struct {
	Type   byte
	Flags  byte
	Length int // remaining length: the bytes after the fixed header
}

// readFixedHeader reads a fixed header and checks what section 2.2 lets a
// server send: a known type with the flags that type requires, and a
// remaining length of at most four bytes.
func readFixedHeader(r io.ByteReader) (fixedHeader, error) {
	first, err := r.ReadByte()
	if err != nil {
		return fixedHeader{}, err
	}
	h := fixedHeader{Type: first >> 4, Flags: first & 0x0f}
	switch h.Type {
	case pktPublish:
		if (h.Flags>>1)&0x03 == 3 {
			return h, malformed("PUBLISH with QoS 3")
		}
	case pktConnack, pktPuback, pktSuback, pktUnsuback, pktPingresp:
		if h.Flags != 0 {
			return h, malformed("packet type %d with flags %#x", h.Type, h.Flags)
		}
	default:
		return h, malformed("packet type %d is not one a broker sends this client", h.Type)
	}
	mul := 1
	for i := 0; ; i++ {
		if i == 4 {
			return h, malformed("remaining length longer than 4 bytes")
		}
		d, err := r.ReadByte()
		if err != nil {
			return h, unexpectedEOF(err)
		}
		h.Length += int(d&0x7f) * mul
		if d&0x80 == 0 {
			return h, nil
		}
		mul *= 128
	}
}

// unexpectedEOF turns an EOF inside a packet into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readControl reads the body of a packet other than PUBLISH into buf
// (maxControl bytes at least) and returns it.
func readControl(r io.Reader, h fixedHeader, buf []byte) ([]byte, error) {
	if h.Length > maxControl || h.Length > len(buf) {
		return nil, malformed("%d-byte packet of type %d", h.Length, h.Type)
	}
	body := buf[:h.Length]
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, unexpectedEOF(err)
	}
	return body, nil
}

// decodeConnack decodes a CONNACK body (section 3.2): the return code, 0
// when the connection is accepted.
func decodeConnack(body []byte) (byte, error) {
	if len(body) != 2 {
		return 0, malformed("CONNACK of %d bytes", len(body))
	}
	if body[0]&^0x01 != 0 {
		return 0, malformed("CONNACK flags %#x", body[0])
	}
	if body[0] != 0 && body[1] != 0 {
		return 0, malformed("CONNACK refusing with a session present")
	}
	return body[1], nil
}

// decodePacketID decodes the body of a PUBACK or UNSUBACK (sections 3.4,
// 3.11): a non-zero packet identifier.
func decodePacketID(body []byte) (uint16, error) {
	if len(body) != 2 {
		return 0, malformed("acknowledgement of %d bytes", len(body))
	}
	id := binary.BigEndian.Uint16(body)
	if id == 0 {
		return 0, malformed("packet identifier 0")
	}
	return id, nil
}

// decodeSuback decodes a SUBACK body (section 3.9): the packet identifier
// and one return code per filter, each 0, 1, 2 (the QoS granted) or 0x80
// (refused).
func decodeSuback(body []byte) (uint16, []byte, error) {
	if len(body) < 3 {
		return 0, nil, malformed("SUBACK of %d bytes", len(body))
	}
	id, err := decodePacketID(body[:2])
	if err != nil {
		return 0, nil, err
	}
	codes := body[2:]
	for _, c := range codes {
		if c > 2 && c != 0x80 {
			return 0, nil, malformed("SUBACK return code %#x", c)
		}
	}
	return id, codes, nil
}

// publishHeader is an incoming PUBLISH up to its payload, which follows on
// the connection.
type publishHeader struct {
	Topic  string
	QoS    byte
	Retain bool
	Dup    bool
	ID     uint16 // QoS 1 and 2 only
	Size   int64  // payload bytes still to read
}

// readPublishHeader reads a PUBLISH's variable header (section 3.3.2): the
// topic (at most maxTopic bytes, never more than the packet holds) and the
// packet identifier. The payload is left on r.
func readPublishHeader(r io.Reader, h fixedHeader, maxTopic int) (publishHeader, error) {
	p := publishHeader{QoS: (h.Flags >> 1) & 0x03, Retain: h.Flags&0x01 != 0, Dup: h.Flags&0x08 != 0}
	var two [2]byte
	if _, err := io.ReadFull(r, two[:]); err != nil {
		return p, unexpectedEOF(err)
	}
	tl := int(binary.BigEndian.Uint16(two[:]))
	head := 2 + tl
	if p.QoS > 0 {
		head += 2
	}
	if h.Length < head {
		return p, malformed("PUBLISH of %d bytes with a topic of %d", h.Length, tl)
	}
	if tl == 0 {
		return p, malformed("PUBLISH with an empty topic")
	}
	if tl > maxTopic {
		return p, malformed("PUBLISH topic of %d bytes", tl)
	}
	topic := make([]byte, tl)
	if _, err := io.ReadFull(r, topic); err != nil {
		return p, unexpectedEOF(err)
	}
	p.Topic = string(topic)
	if p.QoS > 0 {
		if _, err := io.ReadFull(r, two[:]); err != nil {
			return p, unexpectedEOF(err)
		}
		p.ID = binary.BigEndian.Uint16(two[:])
		if p.ID == 0 {
			return p, malformed("PUBLISH with packet identifier 0")
		}
	}
	p.Size = int64(h.Length - head)
	return p, nil
}

// packetReader reads the packets a broker sends one at a time. A PUBLISH's
// payload is left on the connection for the caller to stream (Payload);
// whatever of it the caller did not read is skipped by the next call.
type packetReader struct {
	r       *bufio.Reader
	buf     [maxControl]byte
	pending int64 // payload bytes of the last PUBLISH not read yet
}

func newPacketReader(r io.Reader, size int) *packetReader {
	return &packetReader{r: bufio.NewReaderSize(r, size)}
}

// packet is one packet read: Body for control packets, Publish for PUBLISH.
type packet struct {
	Header  fixedHeader
	Body    []byte // valid until the next call
	Publish publishHeader
}

// skip discards the unread payload of the last PUBLISH.
func (pr *packetReader) skip() error {
	if pr.pending > 0 {
		n, err := pr.r.Discard(int(pr.pending))
		pr.pending -= int64(n)
		if err != nil {
			return unexpectedEOF(err)
		}
	}
	return nil
}

// next reads the next packet. Before it does, it skips the unread payload
// of the previous PUBLISH.
func (pr *packetReader) next() (packet, error) {
	if err := pr.skip(); err != nil {
		return packet{}, err
	}
	h, err := readFixedHeader(pr.r)
	if err != nil {
		return packet{}, err
	}
	p := packet{Header: h}
	if h.Type != pktPublish {
		p.Body, err = readControl(pr.r, h, pr.buf[:])
		return p, err
	}
	p.Publish, err = readPublishHeader(pr.r, h, 65535)
	if err != nil {
		return p, err
	}
	pr.pending = p.Publish.Size
	return p, nil
}

// payload streams the rest of the last PUBLISH's payload to w through buf.
func (pr *packetReader) payload(w io.Writer, buf []byte) (int64, error) {
	n, err := io.CopyBuffer(w, io.LimitReader(pr.r, pr.pending), buf)
	pr.pending -= n
	if err == nil && pr.pending > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
