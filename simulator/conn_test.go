package simulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/internal/testpki"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// A component is hashed as it streams; an injected integrity failure
// flips the byte at its offset, whatever the pieces it arrives in.
func TestStreamedImage(t *testing.T) {
	data := image("1.1.0", 10000)
	bad := bytes.Clone(data)
	bad[5000] ^= 0x5a
	for _, piece := range []int{1, 7, 4096, 5000, 5001, 10000} {
		for _, c := range []struct {
			at   int64
			want [32]byte
		}{{-1, sha256.Sum256(data)}, {5000, sha256.Sum256(bad)}} {
			im := newImage(c.at)
			for rest := data; len(rest) > 0; rest = rest[min(piece, len(rest)):] {
				if n, err := im.Write(rest[:min(piece, len(rest))]); err != nil || n != min(piece, len(rest)) {
					t.Fatalf("write: %d %v", n, err)
				}
			}
			if im.n != int64(len(data)) || !bytes.Equal(im.sum.Sum(nil), c.want[:]) {
				t.Errorf("pieces of %d, corrupt at %d: %d bytes, hash %x", piece, c.at, im.n, im.sum.Sum(nil))
			}
		}
	}
}

// lightPipe is a lightConn on one end of a pipe, and the broker's end.
func lightPipe(t *testing.T, k *keeper) (*lightConn, net.Conn) {
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	c := &lightConn{nc: client, ep: &endpoint{timeout: time.Second}, keeper: k, acks: make(chan ack, 4),
		closed: make(chan struct{}), topics: map[string]bool{}, notify: make(chan struct{}, 1)}
	k.add(c)
	return c, server
}

// The fleet's keeper pings a connection that has sent nothing for three
// quarters of its keep-alive, and closes one that has heard nothing for
// one and a half (checked at given moments, not by waiting).
func TestKeeper(t *testing.T) {
	k := newKeeper()
	now := time.Now()
	idle, broker := lightPipe(t, k)
	idle.lastR.Store(now.UnixNano())
	idle.lastW.Store(now.Add(-keepAlive * 3 / 4).UnixNano())
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 2)
		_, _ = io.ReadFull(broker, b)
		got <- b
	}()
	k.check(now)
	if b := <-got; !bytes.Equal(b, []byte{0xc0, 0}) {
		t.Errorf("an idle connection got %x, want a PINGREQ (c000)", b)
	}
	if idle.lastW.Load() < now.UnixNano() {
		t.Error("the ping did not count as a write")
	}

	dead, _ := lightPipe(t, k)
	dead.lastR.Store(now.Add(-keepAlive*3/2 - time.Second).UnixNano())
	dead.lastW.Store(now.UnixNano())
	k.check(now)
	select {
	case <-dead.done():
		if !strings.Contains(dead.err().Error(), "nothing from the broker for 1m30s") {
			t.Errorf("closed with %v", dead.err())
		}
	default:
		t.Fatal("a connection silent for 1.5 keep-alives was not closed")
	}
	if _, ok := k.conns[dead]; ok {
		t.Error("a closed connection stays in the keeper")
	}
	// A component streaming in for longer than that counts as hearing
	// from the broker with every piece.
	streaming, _ := lightPipe(t, k)
	streaming.lastR.Store(now.Add(-keepAlive * 2).UnixNano())
	streaming.lastW.Store(time.Now().UnixNano())
	var sink bytes.Buffer
	if _, err := (liveWriter{streaming, &sink}).Write([]byte("piece")); err != nil || sink.String() != "piece" {
		t.Fatalf("liveWriter wrote %q: %v", sink.String(), err)
	}
	k.check(time.Now())
	if streaming.err() != nil {
		t.Errorf("a connection streaming a component was closed: %v", streaming.err())
	}
	// A connection that is busy is neither pinged nor closed.
	busy, _ := lightPipe(t, k)
	busy.lastR.Store(now.UnixNano())
	busy.lastW.Store(now.UnixNano())
	k.check(now)
	if busy.err() != nil {
		t.Errorf("a busy connection closed: %v", busy.err())
	}
}

// The light connection speaks MQTT over TLS (here with a client
// certificate) and over secure websockets, and downloads over both.
func TestConnectOverTLSAndWebSocket(t *testing.T) {
	pki := testpki.New(t)
	b := testbroker.Embedded(t, broker.Config{TLS: pki.ServerTLS(t, true), WS: "127.0.0.1:0"})
	tlsOpts := upload.Options{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
	opOpts := tlsOpts
	opOpts.Broker = b.URL
	op, err := upload.Connect(context.Background(), opOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	h := &harness{t: t, op: op, rec: newRecorder()}
	f, err := New(Config{Devices: 2, IDPrefix: "sim-", Package: "main", Version: "1.0.0", Reboot: 10 * time.Millisecond,
		Conn: tlsOpts, Endpoints: []string{b.URL, b.Embedded.WSURL()}, OnEvent: h.rec.add})
	if err != nil {
		t.Fatal(err)
	}
	defer runFleet(t, f, true)()
	h.publishRelease(op.Topics().Fleet(), manifestOpts{seq: 3, version: "1.1.0"})
	for _, id := range []string{"sim-0001", "sim-0002"} {
		h.rec.waitFor(t, id+" updated", isReport(id, report.Idle, report.ReasonReady, "1.1.0"))
	}
	if !strings.HasPrefix(b.URL, "mqtts://") || !strings.HasPrefix(b.Embedded.WSURL(), "wss://") {
		t.Errorf("brokers %s and %s", b.URL, b.Embedded.WSURL())
	}
}
