// Package mqttwire encodes and decodes the MQTT 3.1.1 packets of otactl's
// streaming connection: the least needed to publish one large retained
// message from a file and to read one back through a hash, never holding
// either whole. Encoders append to a byte slice; a Reader reads a broker's
// packets one at a time and leaves a PUBLISH's payload on the connection
// for the caller to stream. Everything a broker sends is checked; bytes
// that are not MQTT 3.1.1 give an error wrapping ErrMalformed.
//
// Section numbers refer to the MQTT 3.1.1 standard (OASIS, 2014).
package mqttwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Control packet types (section 2.2.1). Those a broker sends this client
// are exported: they are what Header.Type holds.
const (
	typeConnect     = 1
	TypeConnack     = 2
	TypePublish     = 3
	TypePuback      = 4
	typeSubscribe   = 8
	TypeSuback      = 9
	typeUnsubscribe = 10
	TypeUnsuback    = 11
	typePingreq     = 12
	TypePingresp    = 13
	typeDisconnect  = 14
)

// MaxRemaining is the largest remaining length a packet can declare
// (section 2.2.3): 268,435,455 bytes.
const MaxRemaining = 268435455

// maxControl is the largest packet other than PUBLISH a Reader accepts: a
// SUBACK for the streaming connection's few filters is 5 bytes.
const maxControl = 64

// ErrBrokerDisconnect is a DISCONNECT from the broker: it closes the
// connection.
var ErrBrokerDisconnect = errors.New("the broker sent DISCONNECT and closes the connection (did another client connect with the same client id?)")

// ErrMalformed marks bytes from the broker that are not MQTT 3.1.1.
var ErrMalformed = errors.New("malformed MQTT packet from the broker")

// Malformed is an error wrapping ErrMalformed that says what was wrong:
// for packets that decode but break the protocol's flow (a packet before
// CONNACK, an acknowledgement of an unknown packet).
func Malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// appendVarint appends n (0 to MaxRemaining) as a remaining length
// (section 2.2.3): MQTT's variable byte integer is Go's unsigned varint,
// seven bits a byte, least significant first.
func appendVarint(b []byte, n int) []byte {
	return binary.AppendUvarint(b, uint64(n))
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

// Connect is what a CONNECT carries: a clean session, no will.
type Connect struct {
	ClientID  string
	Username  string // sent when not empty
	Password  string // sent when Username is set and Password is not empty
	KeepAlive uint16 // seconds
}

// AppendConnect appends a CONNECT packet (section 3.1). A string longer
// than MQTT allows (65535 bytes) is an error, which never holds the
// string itself.
func AppendConnect(b []byte, p Connect) ([]byte, error) {
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
	b = append(b, typeConnect<<4)
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

// AppendSubscribe appends a SUBSCRIBE packet (section 3.8) asking for
// QoS 0 on every filter; the caller keeps each filter within 65535 bytes.
func AppendSubscribe(b []byte, id uint16, filters ...string) []byte {
	n := 2
	for _, f := range filters {
		n += 2 + len(f) + 1
	}
	b = append(b, typeSubscribe<<4|0x02)
	b = appendVarint(b, n)
	b = binary.BigEndian.AppendUint16(b, id)
	for _, f := range filters {
		b = appendString(b, f)
		b = append(b, 0)
	}
	return b
}

// AppendUnsubscribe appends an UNSUBSCRIBE packet (section 3.10); the
// caller keeps each filter within 65535 bytes.
func AppendUnsubscribe(b []byte, id uint16, filters ...string) []byte {
	n := 2
	for _, f := range filters {
		n += 2 + len(f)
	}
	b = append(b, typeUnsubscribe<<4|0x02)
	b = appendVarint(b, n)
	b = binary.BigEndian.AppendUint16(b, id)
	for _, f := range filters {
		b = appendString(b, f)
	}
	return b
}

// AppendPublishHeader appends the fixed and variable header of a PUBLISH
// (section 3.3) whose payload of size bytes the caller writes next. qos is
// 0 or 1; id is used for QoS 1 only. A message that does not fit one
// packet is an error.
func AppendPublishHeader(b []byte, topic string, qos byte, retain bool, id uint16, size int64) ([]byte, error) {
	if err := checkString("topic", topic); err != nil {
		return b, err
	}
	n := int64(2 + len(topic))
	if qos > 0 {
		n += 2
	}
	if size < 0 || n+size > MaxRemaining {
		return b, fmt.Errorf("a message of %d bytes to %s does not fit one MQTT packet (at most %d bytes with its topic)", size, topic, MaxRemaining)
	}
	first := byte(TypePublish<<4) | qos<<1
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

// AppendPingreq appends a PINGREQ (section 3.12).
func AppendPingreq(b []byte) []byte { return append(b, typePingreq<<4, 0) }

// AppendDisconnect appends a DISCONNECT (section 3.14).
func AppendDisconnect(b []byte) []byte { return append(b, typeDisconnect<<4, 0) }

// Header is the fixed header that starts every packet (section 2.2).
type Header struct {
	Type   byte
	Flags  byte
	Length int // remaining length: the bytes after the fixed header
}

// readFixedHeader reads a fixed header and checks what section 2.2 lets a
// server send: a known type with the flags that type requires, and a
// remaining length of at most four bytes.
func readFixedHeader(r io.ByteReader) (Header, error) {
	first, err := r.ReadByte()
	if err != nil {
		return Header{}, err
	}
	h := Header{Type: first >> 4, Flags: first & 0x0f}
	switch h.Type {
	case TypePublish:
		if (h.Flags>>1)&0x03 == 3 {
			return h, Malformed("PUBLISH with QoS 3")
		}
	case TypeConnack, TypePuback, TypeSuback, TypeUnsuback, TypePingresp:
		if h.Flags != 0 {
			return h, Malformed("packet type %d with flags %#x", h.Type, h.Flags)
		}
	case typeDisconnect:
		// MQTT 3.1.1 has no DISCONNECT from a broker, but brokers that
		// speak MQTT 5 send it before they close a connection (mochi when
		// another client connects with the same client id).
		return h, ErrBrokerDisconnect
	default:
		return h, Malformed("packet type %d is not one a broker sends this client", h.Type)
	}
	mul := 1
	for i := 0; ; i++ {
		if i == 4 {
			return h, Malformed("remaining length longer than 4 bytes")
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
func readControl(r io.Reader, h Header, buf []byte) ([]byte, error) {
	if h.Length > maxControl || h.Length > len(buf) {
		return nil, Malformed("%d-byte packet of type %d", h.Length, h.Type)
	}
	body := buf[:h.Length]
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, unexpectedEOF(err)
	}
	return body, nil
}

// DecodeConnack decodes a CONNACK body (section 3.2): the return code, 0
// when the connection is accepted.
func DecodeConnack(body []byte) (byte, error) {
	if len(body) != 2 {
		return 0, Malformed("CONNACK of %d bytes", len(body))
	}
	if body[0]&^0x01 != 0 {
		return 0, Malformed("CONNACK flags %#x", body[0])
	}
	if body[0] != 0 && body[1] != 0 {
		return 0, Malformed("CONNACK refusing with a session present")
	}
	return body[1], nil
}

// DecodePacketID decodes the body of a PUBACK or UNSUBACK (sections 3.4,
// 3.11): a non-zero packet identifier.
func DecodePacketID(body []byte) (uint16, error) {
	if len(body) != 2 {
		return 0, Malformed("acknowledgement of %d bytes", len(body))
	}
	id := binary.BigEndian.Uint16(body)
	if id == 0 {
		return 0, Malformed("packet identifier 0")
	}
	return id, nil
}

// DecodeSuback decodes a SUBACK body (section 3.9): the packet identifier
// and one return code per filter, each 0, 1, 2 (the QoS granted) or 0x80
// (refused).
func DecodeSuback(body []byte) (uint16, []byte, error) {
	if len(body) < 3 {
		return 0, nil, Malformed("SUBACK of %d bytes", len(body))
	}
	id, err := DecodePacketID(body[:2])
	if err != nil {
		return 0, nil, err
	}
	codes := body[2:]
	for _, c := range codes {
		if c > 2 && c != 0x80 {
			return 0, nil, Malformed("SUBACK return code %#x", c)
		}
	}
	return id, codes, nil
}

// Publish is an incoming PUBLISH up to its payload, which follows on the
// connection.
type Publish struct {
	Topic  string
	QoS    byte
	Retain bool
	Dup    bool
	ID     uint16 // QoS 1 and 2 only
	Size   int64  // payload bytes still to read
}

// readPublishHeader reads a PUBLISH's variable header (section 3.3.2): the
// topic (at most maxTopic bytes, never more than the packet holds) and the
// packet identifier. The payload is left on r. The topic is made a string
// by topics (a nil one gives each topic a string of its own).
func readPublishHeader(r *bufio.Reader, h Header, maxTopic int, topics *stringArena) (Publish, error) {
	p := Publish{QoS: (h.Flags >> 1) & 0x03, Retain: h.Flags&0x01 != 0, Dup: h.Flags&0x08 != 0}
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
		return p, Malformed("PUBLISH of %d bytes with a topic of %d", h.Length, tl)
	}
	if tl == 0 {
		return p, Malformed("PUBLISH with an empty topic")
	}
	if tl > maxTopic {
		return p, Malformed("PUBLISH topic of %d bytes", tl)
	}
	// Straight from the reader's buffer when it holds the topic whole.
	topic, err := r.Peek(tl)
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		topic = make([]byte, tl)
		if _, err := io.ReadFull(r, topic); err != nil {
			return p, unexpectedEOF(err)
		}
		p.Topic = topics.string(topic)
	case err != nil:
		return p, unexpectedEOF(err)
	default:
		p.Topic = topics.string(topic)
		_, _ = r.Discard(tl) // peeked: it cannot fail
	}
	if p.QoS > 0 {
		if _, err := io.ReadFull(r, two[:]); err != nil {
			return p, unexpectedEOF(err)
		}
		p.ID = binary.BigEndian.Uint16(two[:])
		if p.ID == 0 {
			return p, Malformed("PUBLISH with packet identifier 0")
		}
	}
	p.Size = int64(h.Length - head)
	return p, nil
}

// Reader reads the packets a broker sends one at a time. A PUBLISH's
// payload is left on the connection for the caller to stream (Payload);
// whatever of it the caller did not read is skipped by the next call.
// Memory is bounded whatever a packet claims: the buffer, a control
// packet of at most 64 bytes, and a PUBLISH's topic.
type Reader struct {
	r       *bufio.Reader
	buf     [maxControl]byte
	pending int64 // payload bytes of the last PUBLISH not read yet
	topics  *stringArena
}

// ShareTopics makes the topics of the PUBLISH packets read from now on
// share blocks of memory, one allocation for many: for a reader of many
// small messages whose topics it keeps. A topic kept keeps its whole
// block (64 KiB) alive.
func (pr *Reader) ShareTopics() { pr.topics = &stringArena{} }

// stringArena makes strings carved from shared blocks; what is written to
// a block is never changed.
type stringArena struct{ b strings.Builder }

const arenaBlock = 64 << 10

// string is b as a string: from the arena's block, or of its own when a
// is nil.
func (a *stringArena) string(b []byte) string {
	if a == nil || len(b) > arenaBlock/4 {
		return string(b)
	}
	if a.b.Cap()-a.b.Len() < len(b) {
		a.b = strings.Builder{}
		a.b.Grow(arenaBlock)
	}
	start := a.b.Len()
	a.b.Write(b)
	return a.b.String()[start:]
}

// NewReader returns a Reader that reads r through a buffer of size bytes.
func NewReader(r io.Reader, size int) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, size)}
}

// Packet is one packet read: Body for control packets, Publish for
// PUBLISH.
type Packet struct {
	Header  Header
	Body    []byte // valid until the next call
	Publish Publish
}

// Skip discards the unread payload of the last PUBLISH.
func (pr *Reader) Skip() error {
	if pr.pending > 0 {
		n, err := pr.r.Discard(int(pr.pending))
		pr.pending -= int64(n)
		if err != nil {
			return unexpectedEOF(err)
		}
	}
	return nil
}

// Await skips the unread payload of the last PUBLISH and waits until the
// first byte of the next packet has arrived, without reading the packet:
// for a caller that gives the broker a different time to start one than to
// finish it.
func (pr *Reader) Await() error {
	if err := pr.Skip(); err != nil {
		return err
	}
	_, err := pr.r.Peek(1)
	return err
}

// Next reads the next packet. Before it does, it skips the unread payload
// of the previous PUBLISH.
func (pr *Reader) Next() (Packet, error) {
	if err := pr.Skip(); err != nil {
		return Packet{}, err
	}
	h, err := readFixedHeader(pr.r)
	if err != nil {
		return Packet{}, err
	}
	p := Packet{Header: h}
	if h.Type != TypePublish {
		p.Body, err = readControl(pr.r, h, pr.buf[:])
		return p, err
	}
	p.Publish, err = readPublishHeader(pr.r, h, 65535, pr.topics)
	if err != nil {
		return p, err
	}
	pr.pending = p.Publish.Size
	return p, nil
}

// Payload streams the rest of the last PUBLISH's payload to w through buf.
// A payload cut short is io.ErrUnexpectedEOF.
func (pr *Reader) Payload(w io.Writer, buf []byte) (int64, error) {
	n, err := io.CopyBuffer(w, io.LimitReader(pr.r, pr.pending), buf)
	pr.pending -= n
	if err == nil && pr.pending > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
