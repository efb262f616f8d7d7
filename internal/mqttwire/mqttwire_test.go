package mqttwire

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// The encoders are checked by decoding their packets with paho's own
// codec, and the decoders by feeding them packets paho encodes: two
// independent readings of MQTT 3.1.1.

// probeText is the payload of otactl's end-of-retained probe, a small
// message the streaming connection sends and reads back.
const probeText = "otactl end-of-retained probe"

func pahoRead(t *testing.T, b []byte) packets.ControlPacket {
	t.Helper()
	r := bytes.NewReader(b)
	cp, err := packets.ReadPacket(r)
	if err != nil {
		t.Fatalf("paho cannot read % x: %v", b, err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes left after the packet", r.Len())
	}
	return cp
}

func pahoBytes(t *testing.T, cp packets.ControlPacket) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := cp.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAppendConnect(t *testing.T) {
	for _, tc := range []Connect{
		{ClientID: "otactl-0123456789ab-s", KeepAlive: 60},
		{ClientID: "c", Username: "ci", KeepAlive: 36000},
		{ClientID: "c", Username: "ci", Password: "s3cret:with spaces", KeepAlive: 90},
		{ClientID: "c", Password: "ignored without a user name"},
	} {
		b, err := AppendConnect(nil, tc)
		if err != nil {
			t.Fatal(err)
		}
		cp, ok := pahoRead(t, b).(*packets.ConnectPacket)
		if !ok {
			t.Fatalf("%+v: paho reads %T", tc, cp)
		}
		if rc := cp.Validate(); rc != packets.Accepted {
			t.Errorf("%+v: paho rejects the CONNECT: %d", tc, rc)
		}
		wantPW := ""
		if tc.Username != "" {
			wantPW = tc.Password
		}
		if cp.ProtocolName != "MQTT" || cp.ProtocolVersion != 4 || !cp.CleanSession || cp.WillFlag ||
			cp.ClientIdentifier != tc.ClientID || cp.Keepalive != tc.KeepAlive ||
			cp.Username != tc.Username || cp.UsernameFlag != (tc.Username != "") ||
			string(cp.Password) != wantPW || cp.PasswordFlag != (wantPW != "") {
			t.Errorf("%+v: paho reads %v", tc, cp)
		}
	}
	if _, err := AppendConnect(nil, Connect{ClientID: "c", Username: "u", Password: strings.Repeat("x", 70000)}); err == nil {
		t.Error("a 70,000-byte password was encoded")
	}
}

func TestAppendSubscribeUnsubscribe(t *testing.T) {
	b := AppendSubscribe(nil, 7, ".u/c/main@1.2.3", ".u/otactl/probe/x-s/ab/+")
	sp, ok := pahoRead(t, b).(*packets.SubscribePacket)
	if !ok || sp.MessageID != 7 || sp.Qos != 1 || len(sp.Topics) != 2 || sp.Topics[0] != ".u/c/main@1.2.3" ||
		sp.Topics[1] != ".u/otactl/probe/x-s/ab/+" || sp.Qoss[0] != 0 || sp.Qoss[1] != 0 {
		t.Errorf("SUBSCRIBE reads as %v", sp)
	}
	b = AppendUnsubscribe(nil, 65535, "a/b")
	up, ok := pahoRead(t, b).(*packets.UnsubscribePacket)
	if !ok || up.MessageID != 65535 || up.Qos != 1 || len(up.Topics) != 1 || up.Topics[0] != "a/b" {
		t.Errorf("UNSUBSCRIBE reads as %v", up)
	}
	if got := AppendPingreq(nil); !bytes.Equal(got, []byte{0xc0, 0}) {
		t.Errorf("PINGREQ = % x", got)
	}
	if _, ok := pahoRead(t, AppendDisconnect(nil)).(*packets.DisconnectPacket); !ok {
		t.Error("DISCONNECT does not read as one")
	}
}

func TestAppendPublishHeader(t *testing.T) {
	for _, tc := range []struct {
		topic  string
		qos    byte
		retain bool
		id     uint16
		size   int
	}{
		{".u/c/main@1.0.0", 1, true, 3, 0},
		{".u/c/main@1.0.0", 1, true, 3, 127 - 2 - 15 - 2},    // remaining length 127: one byte
		{".u/c/main@1.0.0", 1, true, 3, 128 - 2 - 15 - 2},    // 128: two bytes
		{".u/c/main@1.0.0", 1, true, 9, 16384 - 2 - 15 - 2},  // three bytes
		{".u/otactl/probe/c/1", 0, false, 0, len(probeText)}, // QoS 0: no packet id
		{"x", 1, false, 65535, 2097152 - 2 - 1 - 2},          // four bytes
	} {
		payload := bytes.Repeat([]byte{0xa5}, tc.size)
		b, err := AppendPublishHeader(nil, tc.topic, tc.qos, tc.retain, tc.id, int64(tc.size))
		if err != nil {
			t.Fatal(err)
		}
		pp, ok := pahoRead(t, append(b, payload...)).(*packets.PublishPacket)
		if !ok || pp.TopicName != tc.topic || pp.Qos != tc.qos || pp.Retain != tc.retain || pp.Dup ||
			(tc.qos > 0 && pp.MessageID != tc.id) || !bytes.Equal(pp.Payload, payload) {
			t.Errorf("%+v: paho reads %v", tc, pp)
		}
	}
	if _, err := AppendPublishHeader(nil, "t", 1, true, 1, MaxRemaining-4); err == nil {
		t.Error("a message one byte over MQTT's limit was encoded")
	}
	if _, err := AppendPublishHeader(nil, "t", 1, true, 1, MaxRemaining-5); err != nil {
		t.Errorf("the largest message that fits: %v", err)
	}
}

func TestReadFixedHeader(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want Header
		err  string
	}{
		{in: []byte{0x20, 0x02}, want: Header{Type: TypeConnack, Length: 2}},
		{in: []byte{0x31, 0x7f}, want: Header{Type: TypePublish, Flags: 1, Length: 127}},
		{in: []byte{0x3b, 0x80, 0x01}, want: Header{Type: TypePublish, Flags: 0x0b, Length: 128}},
		{in: []byte{0x30, 0xff, 0xff, 0xff, 0x7f}, want: Header{Type: TypePublish, Length: MaxRemaining}},
		{in: []byte{0xd0, 0x00}, want: Header{Type: TypePingresp}},
		{in: []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, err: "longer than 4 bytes"},
		{in: []byte{0x36, 0x00}, err: "QoS 3"},
		{in: []byte{0x22, 0x02}, err: "flags"},
		{in: []byte{0x10, 0x00}, err: "not one a broker sends"},
		{in: []byte{0x00, 0x00}, err: "not one a broker sends"},
		{in: []byte{0xf0, 0x00}, err: "not one a broker sends"},
		{in: []byte{0xe0, 0x00}, err: "the broker sent DISCONNECT"},
		{in: []byte{0x30, 0x80}, err: "unexpected EOF"},
		{in: []byte{}, err: "EOF"},
	} {
		h, err := readFixedHeader(bytes.NewReader(tc.in))
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("% x: error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || h != tc.want):
			t.Errorf("% x = %+v, %v; want %+v", tc.in, h, err, tc.want)
		}
	}
}

func TestDecodeControl(t *testing.T) {
	for _, tc := range []struct {
		rc  byte
		sp  bool
		bad bool
	}{{0, false, false}, {0, true, false}, {5, false, false}, {4, true, true}} {
		ca := packets.NewControlPacket(packets.Connack).(*packets.ConnackPacket)
		ca.ReturnCode, ca.SessionPresent = tc.rc, tc.sp
		b := pahoBytes(t, ca)
		pr := NewReader(bytes.NewReader(b), 16)
		p, err := pr.Next()
		if err != nil || p.Header.Type != TypeConnack {
			t.Fatalf("% x: %v %v", b, p, err)
		}
		rc, err := DecodeConnack(p.Body)
		if (err != nil) != tc.bad || (!tc.bad && rc != tc.rc) {
			t.Errorf("CONNACK %+v: %d, %v", tc, rc, err)
		}
	}
	sa := packets.NewControlPacket(packets.Suback).(*packets.SubackPacket)
	sa.MessageID, sa.ReturnCodes = 12, []byte{0, 0x80}
	p, err := NewReader(bytes.NewReader(pahoBytes(t, sa)), 16).Next()
	if err != nil {
		t.Fatal(err)
	}
	if id, codes, err := DecodeSuback(p.Body); err != nil || id != 12 || !bytes.Equal(codes, []byte{0, 0x80}) {
		t.Errorf("SUBACK: %d % x %v", id, codes, err)
	}
	for _, bad := range [][]byte{{0, 1}, {0, 0, 0}, {0, 1, 3}, {0, 1, 0x81}} {
		if _, _, err := DecodeSuback(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("SUBACK body % x: %v", bad, err)
		}
	}
	pa := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
	pa.MessageID = 513
	ua := packets.NewControlPacket(packets.Unsuback).(*packets.UnsubackPacket)
	ua.MessageID = 2
	in := append(pahoBytes(t, pa), pahoBytes(t, ua)...)
	pr := NewReader(bytes.NewReader(in), 16)
	for _, want := range []struct {
		typ byte
		id  uint16
	}{{TypePuback, 513}, {TypeUnsuback, 2}} {
		p, err := pr.Next()
		if err != nil || p.Header.Type != want.typ {
			t.Fatalf("%v %v", p, err)
		}
		if id, err := DecodePacketID(p.Body); err != nil || id != want.id {
			t.Errorf("ack %d: %d %v", want.typ, id, err)
		}
	}
	if _, err := pr.Next(); err != io.EOF {
		t.Errorf("after the last packet: %v", err)
	}
	for _, bad := range [][]byte{{0, 0}, {1}, {0, 1, 2}} {
		if _, err := DecodePacketID(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ack body % x: %v", bad, err)
		}
	}
	// A control packet longer than any this client expects is refused
	// before it is read.
	if _, err := NewReader(bytes.NewReader([]byte{0x90, 0xff, 0x7f}), 16).Next(); !errors.Is(err, ErrMalformed) {
		t.Errorf("16 KiB SUBACK: %v", err)
	}
}

func TestPacketReaderPublish(t *testing.T) {
	var in bytes.Buffer
	big := bytes.Repeat([]byte("0123456789"), 100_000)
	for _, pp := range []struct {
		topic   string
		qos     byte
		retain  bool
		payload []byte
	}{
		{"a/skipped", 0, false, []byte("not read by the caller")},
		{".u/c/main@1.0.0", 1, true, big},
		{"p/1", 0, false, []byte(probeText)},
		{"empty", 0, true, nil},
	} {
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.TopicName, p.Qos, p.Retain, p.Payload = pp.topic, pp.qos, pp.retain, pp.payload
		if pp.qos > 0 {
			p.MessageID = 77
		}
		in.Write(pahoBytes(t, p))
	}
	in.Write([]byte{0xd0, 0})
	pr := NewReader(&in, 4096)
	p, err := pr.Next()
	if err != nil || p.Publish.Topic != "a/skipped" || p.Publish.Size != 22 || p.Publish.Retain {
		t.Fatalf("first: %+v %v", p, err)
	}
	p, err = pr.Next() // skips the first payload
	if err != nil || p.Publish.Topic != ".u/c/main@1.0.0" || p.Publish.QoS != 1 || p.Publish.ID != 77 || !p.Publish.Retain || p.Publish.Size != int64(len(big)) {
		t.Fatalf("second: %+v %v", p, err)
	}
	h := sha256.New()
	if n, err := pr.Payload(h, make([]byte, 1000)); err != nil || n != int64(len(big)) || !bytes.Equal(h.Sum(nil), sha(big)) {
		t.Fatalf("payload: %d %v", n, err)
	}
	var got bytes.Buffer
	if p, err = pr.Next(); err != nil || p.Publish.Topic != "p/1" {
		t.Fatalf("third: %+v %v", p, err)
	}
	if _, err := pr.Payload(&got, make([]byte, 8)); err != nil || got.String() != probeText {
		t.Fatalf("probe payload %q %v", got.String(), err)
	}
	if p, err = pr.Next(); err != nil || p.Publish.Topic != "empty" || p.Publish.Size != 0 {
		t.Fatalf("fourth: %+v %v", p, err)
	}
	if p, err = pr.Next(); err != nil || p.Header.Type != TypePingresp {
		t.Fatalf("fifth: %+v %v", p, err)
	}

	// A payload cut short is an error, not a short message.
	trunc := append([]byte{0x31, 0x0a, 0, 1, 't'}, "abc"...)
	pr = NewReader(bytes.NewReader(trunc), 16)
	if _, err := pr.Next(); err != nil {
		t.Fatal(err)
	}
	if n, err := pr.Payload(io.Discard, make([]byte, 4)); err != io.ErrUnexpectedEOF || n != 3 {
		t.Errorf("truncated payload: %d %v", n, err)
	}
	for _, bad := range [][]byte{
		{0x30, 0x03, 0, 5, 'a'},       // topic longer than the packet
		{0x30, 0x02, 0, 0},            // empty topic
		{0x32, 0x03, 0, 1, 't'},       // QoS 1 without room for the id
		{0x32, 0x05, 0, 1, 't', 0, 0}, // packet id 0
		{0x30, 0x04, 0, 1},            // topic cut short
	} {
		_, err := NewReader(bytes.NewReader(bad), 16).Next()
		if err == nil {
			t.Errorf("% x accepted", bad)
		}
	}
}

// TestReaderAwait: Await skips what is left of a payload and waits for the
// next packet without reading it.
func TestReaderAwait(t *testing.T) {
	in := append([]byte{0x30, 0x06, 0, 1, 'a'}, "xyz"...)
	in = append(in, 0xd0, 0)
	pr := NewReader(iotest.OneByteReader(bytes.NewReader(in)), 16)
	if p, err := pr.Next(); err != nil || p.Publish.Topic != "a" || p.Publish.Size != 3 {
		t.Fatalf("first: %+v %v", p, err)
	}
	if err := pr.Await(); err != nil {
		t.Fatalf("await the PINGRESP: %v", err)
	}
	if err := pr.Await(); err != nil {
		t.Fatalf("await again: %v", err)
	}
	if p, err := pr.Next(); err != nil || p.Header.Type != TypePingresp {
		t.Fatalf("after awaiting: %+v %v", p, err)
	}
	if err := pr.Await(); err != io.EOF {
		t.Errorf("await after the last packet: %v", err)
	}

	// A payload cut short fails the wait, and the next read too.
	pr = NewReader(bytes.NewReader([]byte{0x30, 0x0d, 0, 1, 'a', 'x', 'y', 'z'}), 16)
	if _, err := pr.Next(); err != nil {
		t.Fatal(err)
	}
	if err := pr.Await(); err != io.ErrUnexpectedEOF {
		t.Errorf("await after a truncated payload: %v", err)
	}
	if _, err := pr.Next(); err != io.ErrUnexpectedEOF {
		t.Errorf("next after a truncated payload: %v", err)
	}
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func FuzzReadFixedHeader(f *testing.F) {
	for _, s := range [][]byte{{0x20, 0x02}, {0x31, 0x80, 0x01}, {0x30, 0xff, 0xff, 0xff, 0x7f}, {0x30, 0xff, 0xff, 0xff, 0xff}, {0xd0, 0}, {0x36}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := readFixedHeader(bytes.NewReader(data))
		if err != nil {
			return
		}
		if h.Length < 0 || h.Length > MaxRemaining {
			t.Fatalf("remaining length %d", h.Length)
		}
		// What was read encodes back to the same header.
		again, err := readFixedHeader(bytes.NewReader(appendVarint([]byte{h.Type<<4 | h.Flags}, h.Length)))
		if err != nil || again != h {
			t.Fatalf("%+v encodes to %+v, %v", h, again, err)
		}
	})
}

func FuzzDecodeControl(f *testing.F) {
	for _, s := range [][]byte{{0, 0}, {1, 0}, {0, 5}, {0, 1, 0}, {0, 1, 0x80, 1}, {0, 1, 3}, {0}, {}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if rc, err := DecodeConnack(body); err == nil && (len(body) != 2 || rc != body[1]) {
			t.Fatalf("CONNACK % x: %d", body, rc)
		}
		if id, err := DecodePacketID(body); err == nil && (len(body) != 2 || id == 0) {
			t.Fatalf("ack % x: %d", body, id)
		}
		if id, codes, err := DecodeSuback(body); err == nil {
			if id == 0 || len(codes) != len(body)-2 || len(codes) == 0 {
				t.Fatalf("SUBACK % x: %d % x", body, id, codes)
			}
			for _, c := range codes {
				if c > 2 && c != 0x80 {
					t.Fatalf("SUBACK % x: code %#x accepted", body, c)
				}
			}
		}
	})
}

// FuzzPacketReader runs the reader the streaming connection uses over
// arbitrary bytes from a "broker": it must end in an error or EOF, never
// panic, never hand out more payload than a packet declares, and never
// allocate by what a packet claims.
func FuzzPacketReader(f *testing.F) {
	seed := func(cps ...packets.ControlPacket) []byte {
		var b bytes.Buffer
		for _, cp := range cps {
			_ = cp.Write(&b)
		}
		return b.Bytes()
	}
	pub := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	pub.TopicName, pub.Retain, pub.Payload = ".u/c/main@1.0.0", true, []byte("firmware bytes")
	pub1 := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	pub1.TopicName, pub1.Qos, pub1.MessageID, pub1.Payload = "p/1", 1, 9, []byte(probeText)
	sa := packets.NewControlPacket(packets.Suback).(*packets.SubackPacket)
	sa.MessageID, sa.ReturnCodes = 1, []byte{0, 0x80}
	ca := packets.NewControlPacket(packets.Connack)
	f.Add(seed(ca, sa, pub, pub1), uint8(3))
	f.Add(seed(pub), uint8(0))
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f, 0, 1, 't'}, uint8(1))
	f.Add([]byte{0x90, 0x03, 0, 1, 0x80, 0xd0, 0, 0xb0, 2, 0, 2, 0x40, 2, 0, 3}, uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		pr := NewReader(bytes.NewReader(data), 16)
		buf := make([]byte, 8)
		for i := 0; ; i++ {
			if i > len(data) {
				t.Fatal("more packets than bytes")
			}
			awaited := mode>>((i+4)%8)&1 == 1
			var awaitErr error
			if awaited {
				awaitErr = pr.Await()
			}
			p, err := pr.Next()
			if awaitErr != nil && err == nil {
				t.Fatalf("Await failed (%v) but Next read %+v", awaitErr, p)
			}
			if err != nil {
				return
			}
			switch p.Header.Type {
			case TypePublish:
				if p.Publish.Size < 0 || p.Publish.Size > int64(p.Header.Length) {
					t.Fatalf("payload of %d in a %d-byte packet", p.Publish.Size, p.Header.Length)
				}
				if mode>>(i%8)&1 == 0 {
					continue // left for next to skip
				}
				var w countWriter
				n, err := pr.Payload(&w, buf)
				if n != w.n || n > p.Publish.Size || (err == nil && n != p.Publish.Size) {
					t.Fatalf("payload: %d of %d (%d written), %v", n, p.Publish.Size, w.n, err)
				}
				if err != nil {
					return
				}
			case TypeConnack:
				_, _ = DecodeConnack(p.Body)
			case TypeSuback:
				_, _, _ = DecodeSuback(p.Body)
			case TypePuback, TypeUnsuback:
				_, _ = DecodePacketID(p.Body)
			}
		}
	})
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// TestReaderSharedTopics: topics read with ShareTopics keep their values
// while thousands more are read after them, those longer than the
// reader's buffer and those longer than a quarter block among them.
func TestReaderSharedTopics(t *testing.T) {
	var in bytes.Buffer
	var want []string
	for i := range 5000 {
		topic := fmt.Sprintf("devices/dev-%06d/.u/c/main", i)
		switch i % 1000 {
		case 7:
			topic += strings.Repeat("/long", 4000) // over a quarter of a block
		case 8:
			topic += strings.Repeat("/x", 40) // over the reader's buffer
		}
		want = append(want, topic)
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.TopicName, p.Payload = topic, []byte{byte(i)}
		in.Write(pahoBytes(t, p))
	}
	pr := NewReader(&in, 64)
	pr.ShareTopics()
	var got []string
	for range want {
		p, err := pr.Next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Publish.Topic)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("topic %d is %.60q, want %.60q", i, got[i], want[i])
		}
	}
}
