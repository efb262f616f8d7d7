package keys

import (
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/otactl/otactl/internal/hint"
)

// Environment variables of PKCS#11 key references.
const (
	// PKCS11PinEnv holds the token's user PIN when the URI has no pin-source.
	PKCS11PinEnv = "OTACTL_PKCS11_PIN"
	// PKCS11ModuleEnv names the PKCS#11 module (a shared library) when the
	// URI has no module-path; commands fall back to the profile's
	// pkcs11-module setting through it.
	PKCS11ModuleEnv = "OTACTL_PKCS11_MODULE"
)

// refPKCS11 is the scheme of an RFC 7512 PKCS#11 URI.
const refPKCS11 = "pkcs11:"

// IsPKCS11 says whether a key reference is a PKCS#11 URI.
func IsPKCS11(ref string) bool { return strings.HasPrefix(ref, refPKCS11) }

// PKCS11URI is the part of an RFC 7512 URI otactl uses to find a key: the
// token (label, manufacturer, serial, model or slot id), the key object
// (label and/or id), and where the PIN and the module come from.
type PKCS11URI struct {
	Token, Manufacturer, Serial, Model string
	SlotID                             *uint
	Object                             string
	ID                                 []byte // nil: not given
	PinSource                          string // a file path
	ModulePath                         string
}

// ParsePKCS11URI reads a pkcs11: URI. It refuses pin-value (a PIN on the
// command line ends up in shell history and process lists) and the
// attributes otactl cannot honour, never repeating a query value.
func ParsePKCS11URI(s string) (*PKCS11URI, error) {
	rest, ok := strings.CutPrefix(s, refPKCS11)
	if !ok {
		return nil, errors.New("not a pkcs11: URI")
	}
	path, query, _ := strings.Cut(rest, "?")
	u := &PKCS11URI{}
	if err := u.parseAttrs(path, ";", u.pathAttr); err != nil {
		return nil, err
	}
	if err := u.parseAttrs(query, "&", u.queryAttr); err != nil {
		return nil, err
	}
	if u.Object == "" && u.ID == nil {
		return nil, errors.New("pkcs11 URI names no key: add object=LABEL or id=%XX (list them with 'otactl key list --pkcs11-module MODULE')")
	}
	return u, nil
}

func (u *PKCS11URI) parseAttrs(s, sep string, set func(name, value string) error) error {
	if s == "" {
		return nil
	}
	for _, kv := range strings.Split(s, sep) {
		name, raw, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return errors.New("pkcs11 URI: an attribute is not NAME=VALUE (separate path attributes with ';', query attributes with '&')")
		}
		v, err := url.PathUnescape(raw)
		if err != nil {
			return fmt.Errorf("pkcs11 URI: attribute %s is not percent-encoded correctly", shownAttr(name))
		}
		if err := set(name, v); err != nil {
			return err
		}
	}
	return nil
}

// shownAttr is an attribute name safe to repeat in an error.
func shownAttr(name string) string {
	if name == "" || len(name) > 32 || LooksLikeKeyMaterial(name) || strings.ContainsAny(name, " %") {
		return "(unnamed)"
	}
	return strconv.Quote(name)
}

func (u *PKCS11URI) pathAttr(name, v string) error {
	switch name {
	case "token":
		u.Token = v
	case "manufacturer":
		u.Manufacturer = v
	case "serial":
		u.Serial = v
	case "model":
		u.Model = v
	case "object":
		u.Object = v
	case "id":
		u.ID = []byte(v)
	case "slot-id":
		n, err := strconv.ParseUint(v, 10, 0)
		if err != nil {
			return errors.New("pkcs11 URI: slot-id is not a number")
		}
		id := uint(n)
		u.SlotID = &id
	case "type":
		if v != "private" && v != "public" {
			return errors.New("pkcs11 URI: type must be private or public (otactl uses the key pair)")
		}
	default:
		return fmt.Errorf("pkcs11 URI: attribute %s is not supported: use token, manufacturer, serial, model, slot-id, object, id or type", shownAttr(name))
	}
	return nil
}

func (u *PKCS11URI) queryAttr(name, v string) error {
	switch name {
	case "pin-value":
		return hint.Wrap(errors.New("pkcs11 URI: pin-value is refused: a PIN on the command line is seen by other users and kept in shell history"),
			"put the PIN in a file and add ?pin-source=FILE, or set "+PKCS11PinEnv)
	case "pin-source":
		if strings.HasPrefix(v, "|") {
			return errors.New("pkcs11 URI: pin-source must be a file, not a command")
		}
		u.PinSource = filePart(v)
	case "module-path":
		u.ModulePath = filePart(v)
	case "module-name":
		return errors.New("pkcs11 URI: module-name is not supported: give the library's path with module-path=PATH")
	default:
		return fmt.Errorf("pkcs11 URI: query attribute %s is not supported: use pin-source or module-path", shownAttr(name))
	}
	return nil
}

// filePart takes the path of a file: URI (file:/p, file:///p) or a plain
// path.
func filePart(v string) string {
	if p, ok := strings.CutPrefix(v, "file://"); ok {
		return p
	}
	return strings.TrimPrefix(v, "file:")
}

// Describe names the token and the key object, for messages: never the
// query, which says where the PIN is.
func (u *PKCS11URI) Describe() string {
	var b strings.Builder
	b.WriteString("pkcs11 ")
	if u.Token != "" {
		fmt.Fprintf(&b, "token %s ", quoteName(u.Token))
	} else if u.Serial != "" {
		fmt.Fprintf(&b, "token serial %s ", quoteName(u.Serial))
	}
	b.WriteString(u.objectName())
	return b.String()
}

// objectName is "key "LABEL" (id 01)" for messages.
func (u *PKCS11URI) objectName() string {
	switch {
	case u.Object != "" && u.ID != nil:
		return fmt.Sprintf("key %s (id %s)", quoteName(u.Object), hex.EncodeToString(u.ID))
	case u.Object != "":
		return "key " + quoteName(u.Object)
	}
	return "key id " + hex.EncodeToString(u.ID)
}

// module is the PKCS#11 library to load: module-path, else
// OTACTL_PKCS11_MODULE.
func (u *PKCS11URI) module(getenv func(string) string) (string, error) {
	if u.ModulePath != "" {
		return u.ModulePath, nil
	}
	if m := getenv(PKCS11ModuleEnv); m != "" {
		return m, nil
	}
	return "", hint.Wrap(fmt.Errorf("%s: no PKCS#11 module given", u.Describe()),
		"add ?module-path=/usr/lib/softhsm/libsofthsm2.so (your token's library) to the URI, set "+PKCS11ModuleEnv+", or 'otactl config set pkcs11-module PATH'")
}

// String writes u back as a URI without its query, for listings.
func (u *PKCS11URI) String() string {
	var attrs []string
	add := func(name, v string) {
		if v != "" {
			attrs = append(attrs, name+"="+escapeAttr(v))
		}
	}
	add("token", u.Token)
	add("object", u.Object)
	if len(u.ID) > 0 {
		attrs = append(attrs, "id="+pctAll(u.ID))
	}
	return refPKCS11 + strings.Join(attrs, ";")
}

// escapeAttr percent-encodes what RFC 7512 does not allow as is in a path
// attribute value.
func escapeAttr(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if nameByte(c) || strings.IndexByte("~:[]@!$'()*+,=&", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func pctAll(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		fmt.Fprintf(&s, "%%%02X", c)
	}
	return s.String()
}

// resolvePKCS11Signer is ResolveSigner for a pkcs11: URI.
func resolvePKCS11Signer(ref string, getenv func(string) string) (crypto.Signer, error) {
	u, module, err := parsePKCS11Ref(ref, getenv)
	if err != nil {
		return nil, err
	}
	return openPKCS11Signer(u, module, getenv)
}

// resolvePKCS11Public is ResolvePublicEnv for a pkcs11: URI.
func resolvePKCS11Public(ref string, getenv func(string) string) (crypto.PublicKey, error) {
	u, module, err := parsePKCS11Ref(ref, getenv)
	if err != nil {
		return nil, err
	}
	return openPKCS11Public(u, module, getenv)
}

func parsePKCS11Ref(ref string, getenv func(string) string) (*PKCS11URI, string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	u, err := ParsePKCS11URI(ref)
	if err != nil {
		return nil, "", &RefError{Err: err}
	}
	module, err := u.module(getenv)
	return u, module, err
}
