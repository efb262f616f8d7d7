package report

import (
	"encoding/hex"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/otactl/otactl/release"
)

// desiredVectors are the release package's test vector manifest, JSON and
// CBOR.
func desiredVectors(tb testing.TB) (jsonManifest, cborManifest []byte) {
	tb.Helper()
	j, err := os.ReadFile("../release/testdata/vector-manifest.json")
	if err != nil {
		tb.Fatal(err)
	}
	h, err := os.ReadFile("../release/testdata/vector-manifest.cbor.hex")
	if err != nil {
		tb.Fatal(err)
	}
	c, err := hex.DecodeString(strings.TrimSpace(string(h)))
	if err != nil {
		tb.Fatal(err)
	}
	return j, c
}

func TestDecodeDesired(t *testing.T) {
	j, c := desiredVectors(t)
	want := map[string]string{"main": "1.2.3", "modem": "2.0.1.7"}
	for _, tc := range []struct {
		name     string
		payload  []byte
		seq      int64
		versions map[string]string
		err      string
	}{
		{name: "json", payload: j, seq: 1767225600, versions: want},
		{name: "cbor", payload: c, seq: 1767225600, versions: want},
		{name: "cleared", payload: nil},
		{name: "json no release", payload: []byte(" {} ")},
		{name: "cbor no release", payload: []byte{0xa0}},
		{name: "not a manifest", payload: []byte("hello"), err: "desired manifest:"},
		{name: "unknown field", payload: []byte(`{"sequenceNumber":1,"components":[],"extra":1}`), err: "desired manifest:"},
		{name: "invalid form", payload: []byte(`{"sequenceNumber":5,"hash":"x","components":[{"package":"main","version":"1.0.0","hash":"x","size":1,"uri":"/.u/c/main@1.0.0"}]}`), err: "invalid manifest"},
		{name: "too large", payload: append([]byte(`{"sequenceNumber":1,"x":"`), make([]byte, release.MaxManifestSize)...), err: "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := DecodeDesired(tc.payload)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Sequence != tc.seq || !maps.Equal(d.Versions, tc.versions) || (len(tc.versions) == 0 && len(d.Versions) != 0) {
				t.Fatalf("got %+v, want sequence %d versions %v", d, tc.seq, tc.versions)
			}
		})
	}
}

func FuzzDecodeDesired(f *testing.F) {
	j, c := desiredVectors(f)
	f.Add(j)
	f.Add(c)
	for _, s := range []string{"", "{}", "\xa0", "null", "[]", `{"sequenceNumber":1}`, "\xbf\xff", "\xa1\x01\x1a\x69\x55\xb9\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := DecodeDesired(p)
		if err != nil {
			if d.Sequence != 0 || d.Versions != nil {
				t.Fatalf("error %v with a result %+v", err, d)
			}
			return
		}
		if len(d.Versions) > 0 && d.Sequence <= 0 {
			t.Fatalf("versions %v with sequence %d", d.Versions, d.Sequence)
		}
		for p, v := range d.Versions {
			if release.ValidatePackage(p) != nil || release.ValidateVersion(v) != nil {
				t.Fatalf("accepted component %q@%q", p, v)
			}
		}
	})
}
