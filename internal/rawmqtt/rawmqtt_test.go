package rawmqtt

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// The remaining lengths of the MQTT 3.1.1 standard's table (section
// 2.2.3), at the edges of one to four bytes, encode and read back.
func TestHeader(t *testing.T) {
	for n, want := range map[int]string{
		0:         "00",
		1:         "01",
		127:       "7f",
		128:       "8001",
		16383:     "ff7f",
		16384:     "808001",
		2097151:   "ffff7f",
		2097152:   "80808001",
		268435455: "ffffff7f",
	} {
		b := AppendHeader(nil, 0x30, n)
		if got := hex.EncodeToString(b[1:]); b[0] != 0x30 || got != want {
			t.Errorf("AppendHeader(0x30, %d) = %x, want 30%s", n, b, want)
		}
		first, got, err := ReadHeader(bytes.NewReader(b))
		if err != nil || first != 0x30 || got != n {
			t.Errorf("ReadHeader(%x) = %#x, %d, %v", b, first, got, err)
		}
	}
	if _, _, err := ReadHeader(bytes.NewReader([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01})); err == nil {
		t.Error("a remaining length of five bytes was read")
	}
	if got := Packet(0x82, []byte("ab")); !bytes.Equal(got, []byte{0x82, 2, 'a', 'b'}) {
		t.Errorf("Packet = %x", got)
	}
	if got := AppendString([]byte{9}, "MQTT"); !bytes.Equal(got, []byte{9, 0, 4, 'M', 'Q', 'T', 'T'}) {
		t.Errorf("AppendString = %x", got)
	}
}
