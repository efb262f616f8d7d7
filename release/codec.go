package release

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// MaxManifestSize is the largest encoded manifest Parse accepts.
const MaxManifestSize = 1 << 20

// ErrNoRelease is returned by Parse for an empty map ({} in JSON, a0 in
// CBOR), which the device SDK takes as "no release".
var ErrNoRelease = errors.New("the manifest is an empty map: no release")

// Encodings of a desired manifest: the seed's JSON, and the integer-key
// CBOR that the Golioth device SDK reads.
const (
	EncodingJSON = "json"
	EncodingCBOR = "cbor"
)

// EmptyManifest is the empty map in encoding: {} in JSON, a0 in CBOR. It
// is the manifest that means "no release" to the Golioth device SDK and
// to otactl (Parse returns ErrNoRelease for it), and what unpublishing a
// release publishes.
func EmptyManifest(encoding string) ([]byte, error) {
	switch encoding {
	case EncodingJSON:
		return []byte("{}"), nil
	case EncodingCBOR:
		return []byte{0xa0}, nil
	}
	return nil, fmt.Errorf("manifest encoding %q: want %s or %s", encoding, EncodingJSON, EncodingCBOR)
}

// EncodingOf is the encoding of a desired payload as Parse reads it:
// EncodingJSON when its first byte after whitespace (and a byte order
// mark) is '{', EncodingCBOR when it starts as a CBOR map, "" for
// anything else (an empty payload among them).
func EncodingOf(b []byte) string {
	t := textStart(b)
	switch {
	case len(t) > 0 && t[0] == '{':
		return EncodingJSON
	case len(b) > 0 && b[0]>>5 == 5:
		return EncodingCBOR
	}
	return ""
}

// EncodeJSON encodes m deterministically: fields in struct order, two-space
// indent, no HTML escaping, a trailing newline. Components are written as []
// when there are none; empty expires, type and signatures are left out.
func EncodeJSON(m *Manifest) ([]byte, error) {
	c := *m
	if c.Components == nil {
		c.Components = []Component{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("encode manifest as JSON: %w", err)
	}
	return b.Bytes(), nil
}

type cborManifestOut struct {
	SequenceNumber int64               `cbor:"1,keyasint"`
	Hash           string              `cbor:"2,keyasint"`
	Components     []cborComponentOut  `cbor:"3,keyasint"`
	Expires        string              `cbor:"4,keyasint,omitempty"`
	Signatures     []cborSignatureData `cbor:"5,keyasint,omitempty"`
}

type cborComponentOut struct {
	Package string `cbor:"1,keyasint"`
	Version string `cbor:"2,keyasint"`
	Hash    string `cbor:"3,keyasint"`
	Size    int64  `cbor:"4,keyasint"`
	URI     string `cbor:"5,keyasint"`
	Type    string `cbor:"6,keyasint,omitempty"`
}

type cborSignatureData struct {
	KeyID string `cbor:"1,keyasint"`
	Alg   string `cbor:"2,keyasint"`
	Sig   []byte `cbor:"3,keyasint"`
}

var (
	cborEnc cbor.EncMode
	cborDec cbor.DecMode
)

func init() {
	var err error
	if cborEnc, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	cborDec, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   16,
		IndefLength:       cbor.IndefLengthAllowed,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// EncodeCBOR encodes m as a CBOR map with integer keys, in CBOR core
// deterministic encoding (shortest forms, keys sorted): top level 1
// sequenceNumber, 2 hash, 3 components, 4 expires (text), 5 signatures; each
// component 1 package, 2 version, 3 hash (hex text), 4 size, 5 uri, 6 type;
// each signature 1 keyid, 2 alg (text), 3 sig (the raw signature as a byte
// string). Keys 4, 5 and 6 are left out when empty.
func EncodeCBOR(m *Manifest) ([]byte, error) {
	out := cborManifestOut{
		SequenceNumber: m.SequenceNumber,
		Hash:           m.Hash,
		Components:     make([]cborComponentOut, 0, len(m.Components)),
		Expires:        m.Expires,
	}
	for _, c := range m.Components {
		out.Components = append(out.Components, cborComponentOut(c))
	}
	for i, s := range m.Signatures {
		sig, err := decodeSig(s.Sig)
		if err != nil {
			return nil, fmt.Errorf("encode manifest as CBOR: signature %d: %w", i+1, err)
		}
		out.Signatures = append(out.Signatures, cborSignatureData{KeyID: s.KeyID, Alg: s.Alg, Sig: sig})
	}
	b, err := cborEnc.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode manifest as CBOR: %w", err)
	}
	return b, nil
}

// Parse decodes a manifest, JSON when its first byte after whitespace (and an
// optional UTF-8 byte order mark) is '{', CBOR otherwise. It refuses payloads
// over MaxManifestSize, unknown or duplicate fields, wrong types, missing
// required fields and trailing data; it returns an error wrapping
// ErrNoRelease for an empty map. It checks the form of the data, not its
// meaning: see Validate and Verify.
func Parse(b []byte) (*Manifest, error) {
	if err := checkSize(b); err != nil {
		return nil, err
	}
	t := textStart(b)
	if len(t) == 0 {
		return nil, errors.New("empty payload: not a manifest")
	}
	if t[0] == '{' {
		return parseJSON(t)
	}
	return parseCBOR(b)
}

// textStart is b from its first byte that is neither whitespace nor a
// UTF-8 byte order mark.
func textStart(b []byte) []byte {
	t := bytes.TrimLeft(b, " \t\r\n")
	t = bytes.TrimPrefix(t, []byte("\xef\xbb\xbf"))
	return bytes.TrimLeft(t, " \t\r\n")
}

func checkSize(b []byte) error {
	if len(b) == 0 {
		return errors.New("empty payload: not a manifest")
	}
	if len(b) > MaxManifestSize {
		return fmt.Errorf("manifest is %d bytes: more than the limit of %d", len(b), MaxManifestSize)
	}
	return nil
}

// ParseJSON decodes a JSON manifest with the checks of Parse.
func ParseJSON(b []byte) (*Manifest, error) {
	if err := checkSize(b); err != nil {
		return nil, err
	}
	return parseJSON(bytes.TrimPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("\xef\xbb\xbf")))
}

// ParseCBOR decodes a CBOR manifest with the checks of Parse.
func ParseCBOR(b []byte) (*Manifest, error) {
	if err := checkSize(b); err != nil {
		return nil, err
	}
	return parseCBOR(b)
}

// The wire forms hold pointers so that a missing or null field is told
// apart from a zero one.
type wireManifest struct {
	SequenceNumber *int64           `json:"sequenceNumber" cbor:"1,keyasint"`
	Hash           *string          `json:"hash" cbor:"2,keyasint"`
	Components     *[]wireComponent `json:"components" cbor:"3,keyasint"`
	Expires        *string          `json:"expires" cbor:"4,keyasint"`
	Signatures     *[]wireSignature `json:"signatures" cbor:"5,keyasint"`
}

type wireComponent struct {
	Package *string `json:"package" cbor:"1,keyasint"`
	Version *string `json:"version" cbor:"2,keyasint"`
	Hash    *string `json:"hash" cbor:"3,keyasint"`
	Size    *int64  `json:"size" cbor:"4,keyasint"`
	URI     *string `json:"uri" cbor:"5,keyasint"`
	Type    *string `json:"type" cbor:"6,keyasint"`
}

type wireSignature struct {
	KeyID *string `json:"keyid" cbor:"1,keyasint"`
	Alg   *string `json:"alg" cbor:"2,keyasint"`
	Sig   *string `json:"sig" cbor:"-"`
	Bytes *[]byte `json:"-" cbor:"3,keyasint"`
}

var (
	jsonTopKeys       = []string{"sequenceNumber", "hash", "components", "expires", "signatures"}
	jsonComponentKeys = []string{"package", "version", "hash", "size", "uri", "type"}
	jsonSignatureKeys = []string{"keyid", "alg", "sig"}
)

func parseJSON(b []byte) (*Manifest, error) {
	if err := checkJSONKeys(b); err != nil {
		return nil, fmt.Errorf("invalid JSON manifest: %w", err)
	}
	var w wireManifest
	if err := json.Unmarshal(b, &w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, fmt.Errorf("invalid JSON manifest: %s is a JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type))
		}
		return nil, fmt.Errorf("invalid JSON manifest: %w", err)
	}
	return w.manifest()
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int64:
		return "integer"
	case reflect.Slice:
		return "array"
	case reflect.Struct:
		return "object"
	}
	return t.String()
}

// checkJSONKeys walks the JSON text and refuses duplicate keys, keys that
// are not exactly the manifest's field names (encoding/json would match them
// without regard to case), deep nesting and trailing data.
func checkJSONKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	if err := walkJSONObject(dec, "", jsonTopKeys, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the manifest")
	}
	return nil
}

const maxJSONDepth = 16

// walkJSONObject reads an object's members after its '{'. keys lists the
// names allowed, nil for any.
func walkJSONObject(dec *json.Decoder, path string, keys []string, depth int) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := tok.(string)
		p := k
		if path != "" {
			p = path + "." + k
		}
		if seen[k] {
			return fmt.Errorf("duplicate field %q", p)
		}
		seen[k] = true
		var elemKeys []string
		if keys != nil {
			found := false
			for _, a := range keys {
				found = found || a == k
			}
			if !found {
				return fmt.Errorf("unknown field %q", p)
			}
			if path == "" && k == "components" {
				elemKeys = jsonComponentKeys
			}
			if path == "" && k == "signatures" {
				elemKeys = jsonSignatureKeys
			}
		}
		if err := walkJSONValue(dec, p, elemKeys, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// walkJSONValue reads one value; objects inside it (or inside an array that
// it is) are checked against keys.
func walkJSONValue(dec *json.Decoder, path string, keys []string, depth int) error {
	if depth > maxJSONDepth {
		return errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		return walkJSONObject(dec, path, keys, depth+1)
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := walkJSONValue(dec, fmt.Sprintf("%s[%d]", path, i), keys, depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	return nil
}

// cborTop is the top level of a CBOR manifest; components and signatures
// are decoded one by one so that an error names the element.
type cborTop struct {
	SequenceNumber *int64             `cbor:"1,keyasint"`
	Hash           *string            `cbor:"2,keyasint"`
	Components     *[]cbor.RawMessage `cbor:"3,keyasint"`
	Expires        *string            `cbor:"4,keyasint"`
	Signatures     *[]cbor.RawMessage `cbor:"5,keyasint"`
}

func parseCBOR(b []byte) (*Manifest, error) {
	if len(b) > 0 && b[0]>>5 != 5 {
		return nil, errors.New("invalid CBOR manifest: not a map (a JSON manifest starts with '{')")
	}
	var top cborTop
	if err := cborUnmarshal(b, &top, ""); err != nil {
		return nil, err
	}
	w := wireManifest{SequenceNumber: top.SequenceNumber, Hash: top.Hash, Expires: top.Expires}
	if top.Components != nil {
		cs := make([]wireComponent, len(*top.Components))
		for i, raw := range *top.Components {
			if err := cborUnmarshal(raw, &cs[i], fmt.Sprintf("components[%d] ", i)); err != nil {
				return nil, err
			}
		}
		w.Components = &cs
	}
	if top.Signatures != nil {
		ss := make([]wireSignature, len(*top.Signatures))
		for i, raw := range *top.Signatures {
			s := &ss[i]
			if err := cborUnmarshal(raw, s, fmt.Sprintf("signatures[%d] ", i)); err != nil {
				return nil, err
			}
			if s.Bytes != nil {
				t := base64.StdEncoding.EncodeToString(*s.Bytes)
				s.Sig = &t
			}
		}
		w.Signatures = &ss
	}
	return w.manifest()
}

// cborUnmarshal decodes with the strict options and words type errors by
// key name; where says which element is decoded.
func cborUnmarshal(b []byte, v any, where string) error {
	err := cborDec.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	var te *cbor.UnmarshalTypeError
	if errors.As(err, &te) && te.StructFieldName != "" {
		msg := fmt.Sprintf("invalid CBOR manifest: %s%s is a CBOR %s, want %s", where, cborFieldName(te.StructFieldName), te.CBORType, cborKind(te.GoType))
		if full := te.Error(); strings.HasSuffix(full, ")") {
			if i := strings.LastIndex(full, " ("); i >= 0 {
				msg += full[i:]
			}
		}
		return errors.New(msg)
	}
	return fmt.Errorf("invalid CBOR manifest: %s%s", where, strings.TrimPrefix(err.Error(), "cbor: "))
}

// cborFieldName turns the decoder's "release.wireComponent.4" into
// "key 4 (size)".
func cborFieldName(s string) string {
	i := strings.LastIndex(s, ".")
	if i < 0 {
		return s
	}
	typ, key := s[:i], s[i+1:]
	var names []string
	switch {
	case strings.HasSuffix(typ, ".cborTop"):
		names = jsonTopKeys
	case strings.HasSuffix(typ, ".wireComponent"):
		names = jsonComponentKeys
	case strings.HasSuffix(typ, ".wireSignature"):
		names = jsonSignatureKeys
	}
	for n, name := range names {
		if key == strconv.Itoa(n+1) {
			return fmt.Sprintf("key %s (%s)", key, name)
		}
	}
	return "key " + key
}

func cborKind(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "int64":
		return "integer"
	case "string":
		return "text string"
	case "[]uint8":
		return "byte string"
	}
	if strings.HasPrefix(goType, "[]") {
		return "array"
	}
	return "map"
}

// manifest checks required fields and builds the Manifest.
func (w *wireManifest) manifest() (*Manifest, error) {
	if w.SequenceNumber == nil && w.Hash == nil && w.Components == nil && w.Expires == nil && w.Signatures == nil {
		return nil, ErrNoRelease
	}
	var missing []string
	miss := func(name string) { missing = append(missing, name) }
	m := &Manifest{}
	required(&m.SequenceNumber, w.SequenceNumber, "sequenceNumber", miss)
	required(&m.Hash, w.Hash, "hash", miss)
	if w.Components == nil {
		miss("components")
	} else {
		for i, c := range *w.Components {
			m.Components = append(m.Components, c.component(fmt.Sprintf("components[%d].", i), miss))
		}
	}
	if w.Expires != nil {
		m.Expires = *w.Expires
	}
	if w.Signatures != nil {
		for i, s := range *w.Signatures {
			sig, err := s.signature(fmt.Sprintf("signatures[%d].", i), miss)
			if err != nil {
				return nil, err
			}
			m.Signatures = append(m.Signatures, sig)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("invalid manifest: missing %s", strings.Join(missing, ", "))
	}
	return m, nil
}

// component builds a component whose fields are named at+name, calling
// miss for each required one that is missing.
func (c wireComponent) component(at string, miss func(string)) Component {
	var out Component
	required(&out.Package, c.Package, at+"package", miss)
	required(&out.Version, c.Version, at+"version", miss)
	required(&out.Hash, c.Hash, at+"hash", miss)
	required(&out.Size, c.Size, at+"size", miss)
	required(&out.URI, c.URI, at+"uri", miss)
	if c.Type != nil {
		out.Type = *c.Type
	}
	return out
}

// signature builds a signature as component builds a component; a sig
// that is not canonical base64 is an error.
func (s wireSignature) signature(at string, miss func(string)) (Signature, error) {
	var out Signature
	required(&out.KeyID, s.KeyID, at+"keyid", miss)
	required(&out.Alg, s.Alg, at+"alg", miss)
	required(&out.Sig, s.Sig, at+"sig", miss)
	if s.Sig != nil {
		if _, err := decodeSig(*s.Sig); err != nil {
			return Signature{}, fmt.Errorf("invalid manifest: %s%v", at, err)
		}
	}
	return out, nil
}

// required copies a field that must be there, or calls miss with its name.
func required[T any](dst *T, src *T, name string, miss func(string)) {
	if src == nil {
		miss(name)
		return
	}
	*dst = *src
}
