package report

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/otactl/otactl/protocol"
)

type vector struct {
	state   State
	reason  Reason
	pkg     string
	version string
	target  string
	topic   string
	payload []byte
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// sdkVectors reads the payloads captured from the Golioth SDK's encoder.
func sdkVectors(tb testing.TB) []vector {
	tb.Helper()
	// A copy of shared/vectors/sdk-reports.tsv: payloads captured from the
	// Golioth SDK's encoder.
	data, err := os.ReadFile("testdata/sdk-reports.tsv")
	if err != nil {
		tb.Fatal(err)
	}
	var vs []vector
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if i == 0 {
			continue // header
		}
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			tb.Fatalf("line %d: %d fields", i+1, len(f))
		}
		s, err1 := strconv.Atoi(f[0])
		r, err2 := strconv.Atoi(f[1])
		p, err3 := hex.DecodeString(f[6])
		if err := errors.Join(err1, err2, err3); err != nil {
			tb.Fatalf("line %d: %v", i+1, err)
		}
		vs = append(vs, vector{State(s), Reason(r), f[2], dash(f[3]), dash(f[4]), f[5], p})
	}
	if len(vs) == 0 {
		tb.Fatal("no vectors")
	}
	return vs
}

func TestSDKVectors(t *testing.T) {
	for _, v := range sdkVectors(t) {
		got, err := Decode(v.payload)
		if err != nil {
			t.Errorf("%x: %v", v.payload, err)
			continue
		}
		want := Report{State: v.state, Reason: v.reason, Package: v.pkg, Version: v.version, Target: v.target}
		if got != want {
			t.Errorf("%x:\n got %+v\nwant %+v", v.payload, got, want)
		}
		enc, err := Encode(want, "cbor", true)
		if err != nil || !bytes.Equal(enc, v.payload) {
			t.Errorf("Encode(%+v) = %x, %v; the SDK sends %x", want, enc, err, v.payload)
		}
		topic := "acme/devices/dev-1/" + v.topic
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		m, err := FromMessage(topicsUnder(t, "acme/"), topic, v.payload, at)
		want.Device, want.Topic, want.Received = "dev-1", topic, at
		if err != nil || m != want {
			t.Errorf("FromMessage(%s) = %+v, %v; want %+v", topic, m, err, want)
		}
	}
}

func cborHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    Report
	}{
		{"json long keys", []byte(`{"state":1,"reason":0,"package":"main","version":"1.0.0","target":"1.1.0"}`),
			Report{State: Downloading, Package: "main", Version: "1.0.0", Target: "1.1.0"}},
		{"json short keys", []byte(`{"s":3,"r":1,"pkg":"main","v":"1.1.0"}`),
			Report{State: Updated, Reason: ReasonUpdated, Package: "main", Version: "1.1.0"}},
		{"json without package", []byte(`{"state":2,"reason":0,"version":"1.0.0","target":"1.1.0"}`),
			Report{State: Downloaded, Version: "1.0.0", Target: "1.1.0"}},
		{"json whitespace and BOM", []byte("\xef\xbb\xbf {\n \"s\" : 0 , \"r\" : 0 }\n"), Report{}},
		{"json io error", []byte(`{"s":1,"r":10,"v":"1.0.0","t":"1.1.0"}`),
			Report{State: Downloading, Reason: ReasonIOError, Version: "1.0.0", Target: "1.1.0"}},
		{"json awaiting retry", []byte(`{"s":0,"r":11,"v":"1.0.0","t":"1.1.0"}`),
			Report{State: Idle, Reason: ReasonAwaitingRetry, Version: "1.0.0", Target: "1.1.0"}},
		{"json unknown codes", []byte(`{"state":7,"reason":42}`), Report{State: 7, Reason: 42}},
		{"json negative codes", []byte(`{"state":-1,"reason":-3}`), Report{State: -1, Reason: -3}},
		{"json nulls are absent", []byte(`{"state":null,"reason":null,"version":null,"v":"2"}`), Report{Version: "2"}},
		{"json unknown keys ignored", []byte(`{"x":{"deep":[1,2,{"a":null}]},"s":2,"S":3,"State":3,"extra":"y"}`),
			Report{State: Downloaded}},
		{"json long key wins over short", []byte(`{"state":3,"s":1,"v":"a","version":"b"}`),
			Report{State: Updated, Version: "b"}},
		{"json empty object is idle", []byte(`{}`), Report{}},
		{"json repeated key: the last counts", []byte(`{"s":1,"s":2,"v":"a","v":"b"}`), Report{State: Downloaded, Version: "b"}},
		{"cbor repeated key: the last counts", cborHex(t, "a3 6173 01 6173 02 6172 05"), Report{State: Downloaded, Reason: ReasonIntegrityCheckFailed}},
		{"cbor definite long keys", cborHex(t, "a5 657374617465 01 66726561736f6e 00 677061636b616765 646d61696e 6776657273696f6e 65312e302e30 66746172676574 65312e312e30"),
			Report{State: Downloading, Package: "main", Version: "1.0.0", Target: "1.1.0"}},
		{"cbor definite short keys", cborHex(t, "a3 6173 03 6172 01 6176 65312e312e30"),
			Report{State: Updated, Reason: ReasonUpdated, Version: "1.1.0"}},
		{"cbor indefinite without pkg", cborHex(t, "bf 6173 02 6172 00 6176 65312e302e30 6174 65312e312e30 ff"),
			Report{State: Downloaded, Version: "1.0.0", Target: "1.1.0"}},
		{"cbor indefinite text chunks", cborHex(t, "bf 6173 01 6176 7f 62312e 63302e30 ff ff"),
			Report{State: Downloading, Version: "1.0.0"}},
		{"cbor unknown codes", cborHex(t, "a2 6173 07 6172 182a"), Report{State: 7, Reason: 42}},
		{"cbor integer and unknown keys ignored", cborHex(t, "a4 01 02 6178 82 01 02 6173 01 f5 00"),
			Report{State: Downloading}},
		{"cbor keys of every type ignored", cborHex(t, "a8 f5 02 4178 02 8101 02 a0 02 f94000 02 c1 01 02 7f 6172 ff 02 6173 01"),
			Report{State: Downloading, Reason: ReasonNotEnoughFlash}},
		{"cbor unknown values of every type skipped", cborHex(t, "bf 6178 9f 5f 41 00 ff 7f 6161 ff c0 fb 3ff0000000000000 bf 01 f6 ff 3903e7 f8 20 f7 ff 6173 02 ff"),
			Report{State: Downloaded}},
		{"cbor null is absent", cborHex(t, "a2 6173 f6 6176 f6"), Report{}},
		{"cbor empty map", cborHex(t, "a0"), Report{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.payload)
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.payload, err)
			}
			if got != tt.want {
				t.Fatalf("Decode(%q)\n got %+v\nwant %+v", tt.payload, got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	big := append([]byte(`{"s":0,"x":"`), bytes.Repeat([]byte("a"), MaxPayload)...)
	big = append(big, `"}`...)
	tests := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"oversize", big, "over the 65536-byte limit"},
		{"garbage", []byte("hello"), "neither a JSON object nor a CBOR map"},
		{"json array", []byte(`[1,2]`), "neither"},
		{"json null", []byte(`null`), "neither"},
		{"only whitespace", []byte("  \n"), "neither"},
		{"json truncated", []byte(`{"s":1,`), "JSON"},
		{"json trailing data", []byte(`{"s":1} {"s":2}`), "data after"},
		{"json float state", []byte(`{"s":1.5}`), `"s" is 1.5, not an integer`},
		{"json string state", []byte(`{"state":"3"}`), "not an integer"},
		{"json number version", []byte(`{"v":1}`), "not a string"},
		{"json state out of range", []byte(`{"s":99999999999}`), "out of range"},
		{"json invalid UTF-8", []byte("{\"v\":\"\xff\"}"), "not UTF-8"},
		{"json control character", []byte(`{"v":"1.0\u001b[2J"}`), "cannot be shown"},
		{"json long version", []byte(`{"v":"` + strings.Repeat("1", MaxField+1) + `"}`), "over the 64-byte limit"},
		{"cbor truncated", cborHex(t, "bf 6173 01"), "CBOR"},
		{"cbor trailing data", cborHex(t, "a1 6173 01 00"), "CBOR"},
		{"cbor text state", cborHex(t, "a1 6173 6133"), "CBOR"},
		{"cbor byte string version", cborHex(t, "a1 6176 45 312e302e30"), "CBOR"},
		{"cbor invalid UTF-8", cborHex(t, "a1 6176 61 ff"), "version is not UTF-8"},
		{"cbor simple value below 32 in two bytes", cborHex(t, "a1 6178 f8 10"), "CBOR"},
		{"cbor break in a definite map", cborHex(t, "a1 6178 ff"), "CBOR"},
		{"cbor indefinite map ends after a key", cborHex(t, "bf 6173 01 6178 ff"), "CBOR"},
		{"cbor bad chunk", cborHex(t, "a1 6176 7f 41 61 ff"), "CBOR"},
		{"cbor huge length", cborHex(t, "a1 6178 5b ffffffffffffffff"), "CBOR"},
		{"cbor huge map", cborHex(t, "bb ffffffffffffffff 6173 01"), "CBOR"},
		{"cbor huge state", cborHex(t, "a1 6173 1b 0000010000000000"), "out of range"},
		{"cbor array", cborHex(t, "82 01 02"), "neither"},
		{"cbor reserved map head", cborHex(t, "bc"), "CBOR"},
		{"cbor deep nesting", append(cborHex(t, "a1 6178"), bytes.Repeat([]byte{0x81}, 100)...), "CBOR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode(tt.payload)
			if err == nil {
				t.Fatalf("Decode(%.40q) = %+v, want an error", tt.payload, r)
			}
			if !errors.Is(err, ErrMalformed) || errors.Is(err, ErrEmpty) {
				t.Errorf("error %v does not wrap ErrMalformed alone", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestDecodeEmpty(t *testing.T) {
	for _, p := range [][]byte{nil, {}} {
		if _, err := Decode(p); !errors.Is(err, ErrEmpty) || errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%q) error = %v, want ErrEmpty", p, err)
		}
	}
	r, err := FromMessage(protocol.Topics{}, "devices/d1/.u/c/main", nil, time.Time{})
	if !errors.Is(err, ErrEmpty) || r.Device != "d1" || r.Package != "main" {
		t.Errorf("FromMessage(empty) = %+v, %v; want device and package named with ErrEmpty", r, err)
	}
}

// topicsUnder is the topics under prefix.
func topicsUnder(t *testing.T, prefix string) protocol.Topics {
	t.Helper()
	tp, err := protocol.NewTopics(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func TestFromMessage(t *testing.T) {
	at := time.Unix(1700000000, 0).UTC()
	tests := []struct {
		name, prefix, topic, payload string
		want                         Report
		err                          string
	}{
		{"package from topic", "", "devices/d1/.u/c/modem", `{"s":1,"v":"4.0.1"}`,
			Report{Device: "d1", Package: "modem", State: Downloading, Version: "4.0.1"}, ""},
		{"same package", "p/", "p/devices/d1/.u/c/main", `{"s":0,"pkg":"main"}`,
			Report{Device: "d1", Package: "main"}, ""},
		{"other package", "", "devices/d1/.u/c/main", `{"s":0,"pkg":"modem"}`,
			Report{Device: "d1", Package: "main"}, `package "modem" in the payload is not "main"`},
		{"not a report topic", "", "devices/d1/.u/desired", `{"s":0}`,
			Report{}, "is not devices/{device}/.u/c/{package}"},
		{"not under the prefix", "p/", "devices/d1/.u/c/main", `{"s":0}`,
			Report{}, `topic "devices/d1/.u/c/main" is not p/devices/{device}/.u/c/{package}`},
		{"malformed payload names the device", "", "devices/d1/.u/c/main", `{"s":"x"}`,
			Report{Device: "d1", Package: "main"}, "not an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromMessage(topicsUnder(t, tt.prefix), tt.topic, []byte(tt.payload), at)
			tt.want.Topic, tt.want.Received = tt.topic, at
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrMalformed)):
				t.Errorf("error %v, want a malformed report error saying %q", err, tt.err)
			}
		})
	}
}

func TestNames(t *testing.T) {
	states := map[State]string{Idle: "idle", Downloading: "downloading", Downloaded: "downloaded", Updated: "updated", 7: "7", -1: "-1"}
	for s, want := range states {
		if s.String() != want {
			t.Errorf("State(%d) = %q, want %q", int(s), s.String(), want)
		}
		if p, err := ParseState(want); err != nil || p != s {
			t.Errorf("ParseState(%q) = %v, %v", want, p, err)
		}
	}
	if _, err := ParseState("stuck"); err == nil {
		t.Error("ParseState(stuck) accepted")
	}
	reasons := []struct {
		r          Reason
		name, desc string
		failure    bool
	}{
		{ReasonReady, "ready", "ready state", false},
		{ReasonUpdated, "updated", "firmware updated successfully", false},
		{ReasonNotEnoughFlash, "not-enough-flash", "not enough flash memory for the new firmware package", true},
		{ReasonIntegrityCheckFailed, "integrity-check-failed", "integrity check failure for new downloaded package", true},
		{ReasonUnsupportedProtocol, "unsupported-protocol", "unsupported protocol", true},
		{ReasonIOError, "io-error", "I/O error", true},
		{ReasonAwaitingRetry, "awaiting-retry", "awaiting retry", false},
		{12, "12", "unknown reason 12", false},
		{-2, "-2", "unknown reason -2", false},
	}
	for _, tt := range reasons {
		if tt.r.String() != tt.name || tt.r.Describe() != tt.desc || tt.r.Failure() != tt.failure {
			t.Errorf("Reason(%d) = %q, %q, %v; want %q, %q, %v", int(tt.r), tt.r.String(), tt.r.Describe(), tt.r.Failure(), tt.name, tt.desc, tt.failure)
		}
	}
	for r := Reason(0); r <= ReasonAwaitingRetry; r++ {
		if _, err := strconv.Atoi(r.String()); err == nil {
			t.Errorf("reason %d has no name", int(r))
		}
	}
}

func TestVerdicts(t *testing.T) {
	tests := []struct {
		r               Report
		v               string
		updated, failed bool
	}{
		{Report{State: Updated, Reason: ReasonUpdated, Version: "1.1"}, "1.1", true, false},
		{Report{State: Idle, Version: "1.1"}, "1.1", true, false},
		{Report{State: Updated, Version: "1.1"}, "1.1", true, false},
		{Report{State: Updated, Reason: ReasonUpdated, Version: "1.0"}, "1.1", false, false},
		{Report{State: Downloading, Version: "1.1", Target: "1.2"}, "1.1", false, false},
		{Report{State: Downloaded, Version: "1.0", Target: "1.1"}, "1.1", false, false},
		{Report{State: Idle, Reason: ReasonAwaitingRetry, Version: "1.0", Target: "1.1"}, "1.1", false, false},
		{Report{State: Downloading, Reason: ReasonIntegrityCheckFailed, Version: "1.0", Target: "1.1"}, "1.1", false, true},
		{Report{State: Downloading, Reason: ReasonNotEnoughFlash}, "1.1", false, true},
		{Report{State: Downloading, Reason: ReasonIOError}, "1.1", false, true},
		{Report{State: Idle, Reason: ReasonConnectionLost, Version: "1.1", Target: "1.2"}, "1.1", true, true},
		{Report{State: 9, Version: "1.1"}, "1.1", false, false},
		{Report{Reason: 42, Version: "1.1"}, "1.1", true, false},
		{Report{}, "", false, false},
	}
	for _, tt := range tests {
		if got := tt.r.UpdatedTo(tt.v); got != tt.updated {
			t.Errorf("%+v UpdatedTo(%q) = %v", tt.r, tt.v, got)
		}
		if tt.r.Failed() != tt.failed || tt.r.Pending() == tt.failed {
			t.Errorf("%+v Failed = %v, Pending = %v; want failed %v", tt.r, tt.r.Failed(), tt.r.Pending(), tt.failed)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	reports := []Report{
		{State: Downloading, Reason: ReasonIOError, Package: "main", Version: "1.0.0", Target: "1.1.0+b.7"},
		{State: Updated, Reason: ReasonUpdated, Version: "1.1.0"},
		{State: 300, Reason: -70000, Package: "p", Target: `we"ird<ü>`},
		{},
	}
	for _, r := range reports {
		for _, enc := range []string{"json", "cbor"} {
			for _, short := range []bool{false, true} {
				b, err := Encode(r, enc, short)
				if err != nil {
					t.Fatal(err)
				}
				got, err := Decode(b)
				if err != nil || got != r {
					t.Errorf("Decode(Encode(%+v, %s, short=%v) = %q) = %+v, %v", r, enc, short, b, got, err)
				}
			}
		}
	}
	if b, _ := Encode(Report{State: Idle, Version: "2"}, "json", true); string(b) != `{"s":0,"r":0,"v":"2"}` {
		t.Errorf("short JSON = %s", b)
	}
	if b, _ := Encode(Report{State: Updated, Reason: 1, Package: "main"}, "json", false); string(b) != `{"state":3,"reason":1,"package":"main"}` {
		t.Errorf("long JSON = %s", b)
	}
	if _, err := Encode(Report{}, "xml", false); err == nil {
		t.Error("Encode(xml) accepted")
	}
}

func TestReportJSON(t *testing.T) {
	r := Report{Device: "d1", Package: "main", State: Downloading, Reason: ReasonIntegrityCheckFailed,
		Version: "1.0.0", Target: "1.1.0", Topic: "devices/d1/.u/c/main",
		Received: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"device":"d1","package":"main","state":1,"stateName":"downloading","reason":5,"reasonName":"integrity-check-failed","version":"1.0.0","target":"1.1.0","time":"2026-03-04T05:06:07Z","topic":"devices/d1/.u/c/main"}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back != r {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	b, _ = json.Marshal(Report{State: 8, Reason: 99})
	if !strings.Contains(string(b), `"stateName":"8"`) || !strings.Contains(string(b), `"reasonName":"99"`) || strings.Contains(string(b), `"time"`) {
		t.Errorf("unknown codes JSON = %s", b)
	}
}

// wellformed is an independent CBOR implementation's well-formedness check,
// with UTF-8 left unchecked as the decoder does for keys it skips.
var wellformed = func() cbor.DecMode {
	dm, err := cbor.DecOptions{IndefLength: cbor.IndefLengthAllowed, UTF8: cbor.UTF8DecodeInvalid, MaxNestedLevels: 32}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

func FuzzDecode(f *testing.F) {
	for _, v := range sdkVectors(f) {
		f.Add(v.payload)
	}
	for _, s := range []string{
		`{"state":1,"reason":0,"package":"main","version":"1.0.0","target":"1.1.0"}`,
		`{"s":3,"r":1,"v":"1.1.0"}`, `{"s":0,"r":11}`, `{}`, `null`, `[]`, "",
		"\xa5\x65state\x01\x66reason\x00\x67package\x64main\x67version\x651.0.0\x66target\x651.1.0",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := Decode(p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrEmpty) {
				t.Fatalf("error %v is neither malformed nor empty", err)
			}
			return
		}
		if p[0]>>5 == 5 {
			// Whatever the decoder accepts is well-formed CBOR.
			if err := wellformed.Wellformed(p); err != nil {
				t.Fatalf("%x decodes to %+v but is not well-formed: %v", p, r, err)
			}
		}
		for _, enc := range []string{"json", "cbor"} {
			b, err := Encode(r, enc, enc == "cbor")
			if err != nil {
				t.Fatal(err)
			}
			back, err := Decode(b)
			if err != nil || back != r {
				t.Fatalf("%x decodes to %+v, re-encoded as %s %q decodes to %+v, %v", p, r, enc, b, back, err)
			}
		}
		_ = r.State.String() + r.Reason.String() + r.Reason.Describe()
	})
}

func BenchmarkDecode(b *testing.B) {
	r := Report{State: Downloading, Reason: ReasonConnectionLost, Package: "main", Version: "1.0.0", Target: "1.1.0"}
	for _, c := range []struct {
		name  string
		enc   string
		short bool
	}{{"json", "json", false}, {"json-short", "json", true}, {"cbor-sdk", "cbor", true}, {"cbor-long", "cbor", false}} {
		p, err := Encode(r, c.enc, c.short)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if _, err := Decode(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
