package release

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vectorJSON(t testing.TB) []byte {
	t.Helper()
	return testdata(t, "vector-manifest.json")
}

func vectorCBOR(t testing.TB) []byte {
	t.Helper()
	return mustHex(t, string(testdata(t, "vector-manifest.cbor.hex")))
}

// cborOf encodes a value built from maps with integer keys.
func cborOf(t testing.TB, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const h64 = "4715dc2a0e8ca060c130d50494e1882bbfafc7e8d24d94f998a4edf10b9a7845"

// minimalCBOR is a manifest as the device SDK's tests would send it.
func minimalCBOR(t testing.TB, edit func(top, comp map[int]any)) []byte {
	comp := map[int]any{1: "main", 2: "1.2.3", 3: h64, 4: 20, 5: "/.u/c/main@1.2.3"}
	top := map[int]any{1: 1767225600, 2: h64, 3: []any{comp}}
	if edit != nil {
		edit(top, comp)
	}
	return cborOf(t, top)
}

func TestParseAccepts(t *testing.T) {
	want := signedVectorManifest(t)
	indef := mustHex(t, "bf 01 1a 6955b900 02 7840 "+hex.EncodeToString([]byte(h64))+
		" 03 9f bf 01 64 6d61696e 02 65 312e322e33 03 7840 "+hex.EncodeToString([]byte(h64))+
		" 04 14 05 70 "+hex.EncodeToString([]byte("/.u/c/main@1.2.3"))+" ff ff ff")
	tests := []struct {
		name string
		in   []byte
		want *Manifest
	}{
		{"json", vectorJSON(t), want},
		{"cbor", vectorCBOR(t), want},
		{"json with whitespace and BOM", append([]byte("\r\n \xef\xbb\xbf\t"), vectorJSON(t)...), want},
		{"compact json", []byte(`{"components":[{"uri":"/.u/c/a@1","size":0,"hash":"` + h64 + `","version":"1","package":"a"}],"hash":"` + h64 + `","sequenceNumber":1}`),
			&Manifest{SequenceNumber: 1, Hash: h64, Components: []Component{{Package: "a", Version: "1", Hash: h64, Size: 0, URI: "/.u/c/a@1"}}}},
		{"cbor indefinite lengths", indef,
			&Manifest{SequenceNumber: 1767225600, Hash: h64, Components: []Component{{Package: "main", Version: "1.2.3", Hash: h64, Size: 20, URI: "/.u/c/main@1.2.3"}}}},
		{"cbor without optional keys", minimalCBOR(t, nil),
			&Manifest{SequenceNumber: 1767225600, Hash: h64, Components: []Component{{Package: "main", Version: "1.2.3", Hash: h64, Size: 20, URI: "/.u/c/main@1.2.3"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	j := string(vectorJSON(t))
	comp := `{"package":"main","version":"1.2.3","hash":"` + h64 + `","size":20,"uri":"/.u/c/main@1.2.3"}`
	top := func(fields string) []byte {
		return []byte(`{"sequenceNumber":1,"hash":"` + h64 + `","components":[` + comp + `]` + fields + `}`)
	}
	tests := []struct {
		name string
		in   []byte
		want string // part of the error
	}{
		{"empty", nil, "empty payload"},
		{"whitespace", []byte(" \n"), "empty payload"},
		{"too big", append(append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), MaxManifestSize)...), `"}`...), "more than the limit"},
		{"json array", []byte(`[1]`), "not a map"},
		{"json null", []byte(`null`), "not a map"},
		{"duplicate top field", top(`,"hash":"` + h64 + `"`), `duplicate field "hash"`},
		{"duplicate component field", []byte(strings.Replace(j, `"size": 20,`, `"size": 20, "size": 21,`, 1)), `duplicate field "components[0].size"`},
		{"unknown field", top(`,"expire":"2027-01-01T00:00:00Z"`), `unknown field "expire"`},
		{"field in other case", []byte(strings.Replace(j, `"sequenceNumber"`, `"SequenceNumber"`, 1)), `unknown field "SequenceNumber"`},
		{"unknown component field", []byte(strings.Replace(j, `"size": 20,`, `"size": 20, "sha": "x",`, 1)), `unknown field "components[0].sha"`},
		{"unknown signature field", []byte(strings.Replace(j, `"alg": "ed25519",`, `"alg": "ed25519", "key": "x",`, 1)), `unknown field "signatures[0].key"`},
		{"sequence as string", []byte(strings.Replace(j, `1767225600`, `"1767225600"`, 1)), "sequenceNumber is a JSON string, want integer"},
		{"sequence as fraction", []byte(strings.Replace(j, `1767225600`, `1767225600.5`, 1)), "sequenceNumber"},
		{"sequence too big", []byte(strings.Replace(j, `1767225600`, `99999999999999999999`, 1)), "sequenceNumber"},
		{"size as string", []byte(strings.Replace(j, `"size": 20`, `"size": "20"`, 1)), "components.size is a JSON string, want integer"},
		{"components as object", top(`,"signatures":{}`), "signatures is a JSON object, want array"},
		{"hash as number", []byte(strings.Replace(j, `"`+vectorDigestHex+`"`, `1`, 1)), "hash is a JSON number, want string"},
		{"missing hash", []byte(`{"sequenceNumber":1,"components":[` + comp + `]}`), "missing hash"},
		{"null hash", top(`,"expires":null`)[0:0], "empty payload"},
		{"null field is missing", []byte(`{"sequenceNumber":1,"hash":null,"components":[` + comp + `]}`), "missing hash"},
		{"missing components", []byte(`{"sequenceNumber":1,"hash":"` + h64 + `"}`), "missing components"},
		{"missing component size", []byte(strings.Replace(j, `"size": 20,`, ``, 1)), "missing components[0].size"},
		{"null component", []byte(`{"sequenceNumber":1,"hash":"` + h64 + `","components":[null]}`), "missing components[0].package"},
		{"missing sig", []byte(strings.Replace(j, `"alg": "ed25519",`, `"alg": "ed25519"`, 1)[:0]), "empty payload"},
		{"sig not base64", []byte(strings.Replace(j, `"sig": "PxfL`, `"sig": "!xfL`, 1)), "signatures[0].sig is not standard base64"},
		{"sig with line break", []byte(strings.Replace(j, `"sig": "PxfL`, `"sig": "PxfL\n`, 1)), "sig is not standard base64"},
		{"trailing data", append(vectorJSON(t), 'x'), "after the manifest"},
		{"second object", append(vectorJSON(t), "{}"...), "after the manifest"},
		{"truncated json", vectorJSON(t)[:100], "invalid JSON manifest"},
		{"deep nesting", top(`,"expires":` + strings.Repeat("[", 100) + strings.Repeat("]", 100)), "nested too deeply"},

		{"cbor not a map", mustHex(t, "83010203"), "not a map"},
		{"cbor duplicate key", mustHex(t, "a2 01 01 01 02"), "duplicate map key"},
		{"cbor text key", cborOf(t, map[string]any{"sequenceNumber": 1}), "unknown field"},
		{"cbor unknown key", minimalCBOR(t, func(top, _ map[int]any) { top[9] = 1 }), "unknown field"},
		{"cbor unknown component key", minimalCBOR(t, func(_, c map[int]any) { c[7] = 1 }), "unknown field"},
		{"cbor hash as bytes", minimalCBOR(t, func(_, c map[int]any) { c[3] = mustHex(t, h64) }), "components[0] key 3 (hash) is a CBOR byte string, want text string"},
		{"cbor sequence as float", minimalCBOR(t, func(top, _ map[int]any) { top[1] = 1.5 }), "key 1 (sequenceNumber) is a CBOR primitives, want integer"},
		{"cbor sequence too big", minimalCBOR(t, func(top, _ map[int]any) { top[1] = uint64(1 << 63) }), "key 1 (sequenceNumber) is a CBOR positive integer, want integer (9223372036854775808 overflows"},
		{"cbor size as text", minimalCBOR(t, func(_, c map[int]any) { c[4] = "20" }), "components[0] key 4 (size) is a CBOR UTF-8 text string, want integer"},
		{"cbor sig as text", minimalCBOR(t, func(top, _ map[int]any) {
			top[5] = []any{map[int]any{1: vectorEdKeyID, 2: "ed25519", 3: vectorEdSig}}
		}), "signatures[0] key 3 (sig) is a CBOR UTF-8 text string, want byte string"},
		{"cbor missing keys", minimalCBOR(t, func(top, c map[int]any) { delete(top, 2); delete(c, 4) }), "missing hash, components[0].size"},
		{"cbor tag", mustHex(t, "a1 01 c1 01"), "tag"},
		{"cbor trailing bytes", append(minimalCBOR(t, nil), 0), "extraneous data"},
		{"cbor truncated", minimalCBOR(t, nil)[:30], "unexpected EOF"},
		{"cbor invalid utf-8", minimalCBOR(t, func(_, c map[int]any) { c[1] = "ma\xffin" }), "UTF-8"},
		{"cbor huge declared length", mustHex(t, "a1 03 9b 00ffffffffffffff"), "invalid CBOR manifest"},
	}
	for _, tt := range tests {
		if len(tt.in) == 0 && tt.want != "empty payload" {
			t.Fatalf("%s: empty input", tt.name)
		}
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("parsed %+v, want an error with %q", m, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if errors.Is(err, ErrNoRelease) {
				t.Errorf("error %v wraps ErrNoRelease", err)
			}
		})
	}
}

func TestParseEmptyMapIsNoRelease(t *testing.T) {
	for _, in := range [][]byte{[]byte(`{}`), []byte(" { } \n"), {0xa0}, {0xbf, 0xff}} {
		if _, err := Parse(in); !errors.Is(err, ErrNoRelease) {
			t.Errorf("Parse(%q) = %v, want ErrNoRelease", in, err)
		}
	}
}

// The empty manifest is the Golioth SDK's "no release": {} in JSON, the
// one byte a0 (a CBOR map of no pairs) in CBOR; Parse reads both back as
// ErrNoRelease, and EncodingOf tells them apart.
func TestEmptyManifestGoldenBytes(t *testing.T) {
	for enc, want := range map[string][]byte{EncodingJSON: []byte("{}"), EncodingCBOR: {0xa0}} {
		got, err := EmptyManifest(enc)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("EmptyManifest(%s) = % x, %v; want % x", enc, got, err, want)
		}
		if _, err := Parse(got); !errors.Is(err, ErrNoRelease) {
			t.Errorf("Parse(% x) = %v, want ErrNoRelease", got, err)
		}
		if e := EncodingOf(got); e != enc {
			t.Errorf("EncodingOf(% x) = %q, want %q", got, e, enc)
		}
	}
	if _, err := EmptyManifest("yaml"); err == nil {
		t.Error("EmptyManifest(yaml): no error")
	}
}

func TestEncodingOf(t *testing.T) {
	for in, want := range map[string]string{
		string(vectorJSON(t)): EncodingJSON, string(vectorCBOR(t)): EncodingCBOR,
		"\xef\xbb\xbf \n{": EncodingJSON, "\xbf\xff": EncodingCBOR,
		"": "", "garbage": "", "[]": "", "\x80": "",
	} {
		if got := EncodingOf([]byte(in)); got != want {
			t.Errorf("EncodingOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseJSONAndCBORRefuseTheOther(t *testing.T) {
	if _, err := ParseJSON(vectorCBOR(t)); err == nil {
		t.Error("ParseJSON accepted CBOR")
	}
	if _, err := ParseCBOR(vectorJSON(t)); err == nil {
		t.Error("ParseCBOR accepted JSON")
	}
	if _, err := ParseJSON(vectorJSON(t)); err != nil {
		t.Error(err)
	}
	if _, err := ParseCBOR(vectorCBOR(t)); err != nil {
		t.Error(err)
	}
}

func TestEncodeJSONForm(t *testing.T) {
	m := &Manifest{SequenceNumber: 5, Hash: h64}
	b, err := EncodeJSON(m)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"sequenceNumber\": 5,\n  \"hash\": \"" + h64 + "\",\n  \"components\": []\n}\n"
	if string(b) != want {
		t.Errorf("got %q\nwant %q", b, want)
	}
	// No HTML escaping: '<', '>' and '&' stay as they are.
	m.Expires = "<&>"
	b, _ = EncodeJSON(m)
	if !bytes.Contains(b, []byte(`"expires": "<&>"`)) {
		t.Errorf("HTML escaped: %s", b)
	}
}

func TestEncodeCBORRefusesBadSig(t *testing.T) {
	m := vectorManifest()
	m.Signatures = []Signature{{KeyID: vectorEdKeyID, Alg: AlgEd25519, Sig: "not base64!"}}
	if _, err := EncodeCBOR(m); err == nil {
		t.Error("EncodeCBOR accepted a sig that is not base64")
	}
}

func TestEncodingIsDeterministic(t *testing.T) {
	a, b := signedVectorManifest(t), signedVectorManifest(t)
	for name, enc := range map[string]func(*Manifest) ([]byte, error){"json": EncodeJSON, "cbor": EncodeCBOR} {
		x, err1 := enc(a)
		y, err2 := enc(b)
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("%s: two encodings differ (%v, %v)", name, err1, err2)
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts survives a round trip
// through both encodings unchanged.
func FuzzParse(f *testing.F) {
	f.Add(vectorJSON(f))
	f.Add(vectorCBOR(f))
	f.Add(minimalCBOR(f, nil))
	f.Add([]byte(`{}`))
	f.Add([]byte{0xa0})
	f.Add([]byte{0xbf, 0xff})
	f.Add([]byte(`{"sequenceNumber":1,"hash":"x","components":[{"package":"a","version":"1","hash":"h","size":1,"uri":"u"}]}`))
	f.Add(mustHex(f, "a1 03 9b 00ffffffffffffff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		_ = m.Validate()
		_ = m.DigestText()
		j, c := encodings(t, m) // of a parsed manifest
		for name, enc := range map[string][]byte{"json": j, "cbor": c} {
			if len(enc) > MaxManifestSize {
				continue
			}
			back, err := Parse(enc)
			if errors.Is(err, ErrNoRelease) && len(m.Components) == 0 {
				continue
			}
			if err != nil {
				t.Fatalf("%s round trip: %v\n%s", name, err, enc)
			}
			if !reflect.DeepEqual(back, m) {
				t.Fatalf("%s round trip changed the manifest:\n%+v\n%+v", name, back, m)
			}
		}
	})
}
