package report

import (
	"fmt"
	"testing"
)

// scanCases are JSON payloads for the fast path's tests: each says
// whether scanJSON must take it (true) or leave it to encoding/json.
var scanCases = []struct {
	payload string
	fast    bool
}{
	// What devices send, and what otactl's simulator and Encode write.
	{`{"state":1,"reason":0,"package":"main","version":"1.0.0","target":"1.1.0"}`, true},
	{`{"s":3,"r":1,"pkg":"main","v":"1.1.0"}`, true},
	{`{"state":0,"reason":0,"package":"main","version":"1.1.0"}`, true},
	{`{"s":0,"r":11,"v":"1.0.0","t":"1.1.0"}`, true},
	{"{\n  \"s\" : 0 ,\t\"r\" : 0\r\n}\n\n", true},
	{`{}`, true},
	{` { } `, true},
	{`{"state":-1,"reason":-2147483648,"s":2147483647}`, true},
	{`{"state":null,"reason":null,"version":null,"v":"2"}`, true},
	{`{"s":1,"s":2,"v":"a","v":"b"}`, true},
	{`{"s":1,"s":null}`, true},
	{`{"extra":"y","n":12,"b":true,"f":false,"z":null,"S":"x","State":3}`, true},
	{`{"v":"~!#$%&'()*+,-./:;<=>?@[]^_{|}` + "`" + `"}`, true},
	{`{"v":""}`, true},
	{`{"state":-0}`, true},

	// Everything else: escapes, non-ASCII text, nested values, numbers
	// with fraction or exponent, wrong types, and every kind of error.
	{`{"v":"1.0\u002e0"}`, false},
	{`{"v":"a\"b"}`, false},
	{`{"st\u0061te":1}`, false},
	{`{"v":"versión"}`, false},
	{"{\"v\":\"\xff\"}", false},
	{"{\"v\":\"a\x01\"}", false},
	{"{\"v\":\"a\x7f\"}", false},
	{`{"x":{"deep":[1,2,{"a":null}]},"s":2}`, false},
	{`{"x":[],"s":2}`, false},
	{`{"x":1.5,"s":2}`, false},
	{`{"x":1e3}`, false},
	{`{"s":1.0}`, false},
	{`{"s":1E2}`, false},
	{`{"s":01}`, false},
	{`{"s":-}`, false},
	{`{"s":+1}`, false},
	{`{"s":99999999999}`, false},
	{`{"s":2147483648}`, false},
	{`{"s":-2147483649}`, false},
	{`{"s":"3"}`, false},
	{`{"s":true}`, false},
	{`{"v":1}`, false},
	{`{"v":false}`, false},
	{`{"x":nul}`, false},
	{`{"x":nullx}`, false},
	{`{"x":tru}`, false},
	{`{"s":1,}`, false},
	{`{,}`, false},
	{`{"s":1`, false},
	{`{"s":1,`, false},
	{`{"s" 1}`, false},
	{`{"s":}`, false},
	{`{s:1}`, false},
	{`{"s":1}}`, false},
	{`{"s":1} {"s":2}`, false},
	{`{"s":1} x`, false},
	{`{"s":1}` + "\x00", false},
	{`{"s`, false},
	{`{`, false},
	{`[1]`, false},
	{`null`, false},
	{``, false},
}

// TestScanJSON: the fast path takes what devices send, and whatever it
// takes decodes as encoding/json decodes it; everything else is left to
// encoding/json.
func TestScanJSON(t *testing.T) {
	for _, c := range scanCases {
		var fast, std wire
		took := scanJSON([]byte(c.payload), &fast)
		if took != c.fast {
			t.Errorf("scanJSON(%q) = %v, want %v", c.payload, took, c.fast)
			continue
		}
		if !took {
			continue
		}
		if err := decodeJSONStd([]byte(c.payload), &std); err != nil {
			t.Errorf("scanJSON took %q, which encoding/json refuses: %v", c.payload, err)
		} else if fast != std {
			t.Errorf("%q: scanJSON gives %+v, encoding/json %+v", c.payload, fast, std)
		}
	}
}

// TestDecodeJSONSameAsStd: Decode, fast path or not, returns what it
// returned when every JSON report went through encoding/json: the same
// report, or the same error message.
func TestDecodeJSONSameAsStd(t *testing.T) {
	for _, c := range scanCases {
		if c.payload == "" || c.payload[0] != '{' && c.payload[0] != ' ' {
			continue
		}
		checkSameAsStd(t, []byte(c.payload))
	}
}

// checkSameAsStd fails t when Decode(p) differs from decoding p's JSON
// with encoding/json alone.
func checkSameAsStd(t *testing.T, p []byte) {
	t.Helper()
	got, err := Decode(p)
	want, werr := decodeStd(p)
	if fmt.Sprint(err) != fmt.Sprint(werr) || got != want {
		t.Fatalf("Decode(%q) = %+v, %v; through encoding/json: %+v, %v", p, got, err, want, werr)
	}
}

// decodeStd is Decode with every JSON payload going through encoding/json.
func decodeStd(p []byte) (Report, error) {
	text := trimJSONStart(p)
	if len(p) == 0 || len(p) > MaxPayload || len(text) == 0 || text[0] != '{' {
		return Decode(p) // not JSON: the same code either way
	}
	var w wire
	if err := decodeJSONStd(text, &w); err != nil {
		return Report{}, err
	}
	return w.report()
}

// FuzzScanJSON compares the fast path with encoding/json on any input:
// whatever scanJSON takes, encoding/json takes too and decodes the same;
// and Decode's result, report or error, is what encoding/json alone gives.
func FuzzScanJSON(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c.payload))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var fast wire
		if scanJSON(p, &fast) {
			var std wire
			if err := decodeJSONStd(p, &std); err != nil {
				t.Fatalf("scanJSON took %q, which encoding/json refuses: %v", p, err)
			}
			if fast != std {
				t.Fatalf("%q: scanJSON gives %+v, encoding/json %+v", p, fast, std)
			}
		}
		checkSameAsStd(t, p)
	})
}

// TestSlotMatchesKeyLists: the switch in slot puts each key's value where
// intKeys and textKeys say, and knows no other key.
func TestSlotMatchesKeyLists(t *testing.T) {
	var w wire
	for n, k := range intKeys {
		if name, i, s := w.slot([]byte(k)); name != k || i != &w.ints[n] || s != nil {
			t.Errorf("slot(%s) = %q, %p, %p; want ints[%d]", k, name, i, s, n)
		}
	}
	for n, k := range textKeys {
		if name, i, s := w.slot([]byte(k)); name != k || i != nil || s != &w.texts[n] {
			t.Errorf("slot(%s) = %q, %p, %p; want texts[%d]", k, name, i, s, n)
		}
	}
	for _, k := range []string{"", "State", "st", "pkgs", "device"} {
		if name, i, s := w.slot([]byte(k)); name != "" || i != nil || s != nil {
			t.Errorf("slot(%q) = %q, %p, %p; want nothing", k, name, i, s)
		}
	}
}
