package catalog

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/release"
)

func sample() *release.Manifest {
	m := &release.Manifest{
		SequenceNumber: 1767225600,
		Components: []release.Component{{
			Package: "main", Version: "1.2.3", Size: 538208,
			Hash: strings.Repeat("ab", 32), URI: "/.u/c/main@1.2.3", Type: "mcuboot",
		}},
		Signatures: []release.Signature{{KeyID: "3f1c0a9b27d4e815", Alg: "ed25519", Sig: "c2ln"}},
	}
	m.Hash = m.DigestHex()
	return m
}

func TestRoundTripAndMerge(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := New(sample(), "json", []Target{{Kind: "device", Name: "d1", At: now.Format(time.RFC3339)}}, now)
	e.Merge([]Target{{Kind: "device", Name: "d1", At: "later"}, {Kind: "fleet", At: now.Format(time.RFC3339)}})
	if len(e.Targets) != 2 || e.Targets[0].At != "2026-01-01T00:00:00Z" {
		t.Fatalf("targets after merge = %+v", e.Targets)
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("c2ln")) {
		t.Error("the entry holds the signature bytes")
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := got.Encode()
	if !bytes.Equal(b, b2) {
		t.Errorf("round trip changed the entry:\n%s\n%s", b, b2)
	}
	m := got.Manifest(1767225700)
	m.Seal()
	if m.SequenceNumber != 1767225700 || len(m.Components) != 1 || m.Components[0] != sample().Components[0] {
		t.Errorf("Manifest = %+v", m)
	}
}

func TestParseRefuses(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good, _ := New(sample(), "json", nil, now).Encode()
	for name, b := range map[string]string{
		"empty":     "",
		"notjson":   "hello",
		"unknown":   strings.Replace(string(good), `"encoding"`, `"encodin"`, 1),
		"trailing":  string(good) + "{}",
		"seq":       strings.Replace(string(good), "1767225600", "-1", 1),
		"hash":      strings.Replace(string(good), `"hash": "`, `"hash": "x`, 1),
		"encoding":  strings.Replace(string(good), `"encoding": "json"`, `"encoding": "xml"`, 1),
		"time":      strings.Replace(string(good), "2026-01-01T00:00:00Z", "yesterday", 1),
		"huge":      `{"x":"` + strings.Repeat("a", MaxEntrySize) + `"}`,
		"badtarget": strings.Replace(string(good), `"targets": []`, `"targets": [{"kind":"planet","at":"x"}]`, 1),
	} {
		if _, err := Parse([]byte(b)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestParseTargetErrors pins what 'release list' says about an entry
// whose targets are wrong.
func TestParseTargetErrors(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good, _ := New(sample(), "json", nil, now).Encode()
	for targets, want := range map[string]string{
		`{"kind":"planet","at":"x"}`:              `catalog entry 1767225600: target kind "planet": want fleet, cohort or device`,
		`{"kind":"fleet","name":"x","at":"x"}`:    `catalog entry 1767225600: a fleet target has no name`,
		`{"kind":"cohort","at":"x"}`:              `catalog entry 1767225600: cohort name is empty`,
		`{"kind":"device","name":"a/b","at":"x"}`: `catalog entry 1767225600: invalid device id "a/b": character '/' at position 2 is not allowed (use letters, digits, '.', '_', ':', '-')`,
	} {
		b := strings.Replace(string(good), `"targets": []`, `"targets": [`+targets+`]`, 1)
		if _, err := Parse([]byte(b)); err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %s", targets, err, want)
		}
	}
	e, err := Parse([]byte(strings.Replace(string(good), `"targets": []`, `"targets": [{"kind":"cohort","name":"canary","at":"x"},{"kind":"fleet","at":"x"}]`, 1)))
	if err != nil || len(e.Targets) != 2 || e.Targets[0].Key() != "cohort:canary" || e.Targets[1].Key() != "fleet" {
		t.Errorf("Parse = %+v, %v", e, err)
	}
}

// FuzzParse: entries come from the broker, written by anyone with access.
func FuzzParse(f *testing.F) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good, _ := New(sample(), "cbor", []Target{{Kind: "cohort", Name: "canary", At: "2026-01-01T00:00:00Z"}}, now).Encode()
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"sequenceNumber":1,"components":null}`))
	f.Add([]byte(`[1,2,3]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			return
		}
		// What parses encodes and parses again to the same entry.
		out, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		e2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		out2, _ := e2.Encode()
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
	})
}
