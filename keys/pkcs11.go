//go:build cgo

package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/release"
)

// ckmEdDSA is CKM_EDDSA of PKCS#11 3.0, which miekg/pkcs11 predates.
const ckmEdDSA = 0x1057

// modules keeps each loaded module for the life of the process: a module
// is initialised once.
var modules struct {
	sync.Mutex
	m map[string]*pkcs11.Ctx
}

func loadModule(path string) (*pkcs11.Ctx, error) {
	modules.Lock()
	defer modules.Unlock()
	if c := modules.m[path]; c != nil {
		return c, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("PKCS#11 module %s: %w", showPath(path), fileReason(err))
	}
	c := pkcs11.New(path)
	if c == nil {
		return nil, fmt.Errorf("PKCS#11 module %s does not load: is it a PKCS#11 library for this system?", showPath(path))
	}
	if err := c.Initialize(); err != nil && !isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		c.Destroy()
		return nil, fmt.Errorf("PKCS#11 module %s: initialize: %w", showPath(path), err)
	}
	if modules.m == nil {
		modules.m = map[string]*pkcs11.Ctx{}
	}
	modules.m[path] = c
	return c, nil
}

func isCKR(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}

// tokenSession is an open session on one token. PKCS#11 sessions are not
// for concurrent use: mu serialises operations.
type tokenSession struct {
	c    *pkcs11.Ctx
	sh   pkcs11.SessionHandle
	info pkcs11.TokenInfo
	mu   sync.Mutex
}

// openToken opens a session on the one token u names in module.
func openToken(u *PKCS11URI, module string) (*tokenSession, error) {
	c, err := loadModule(module)
	if err != nil {
		return nil, err
	}
	slots, err := c.GetSlotList(true)
	if err != nil {
		return nil, fmt.Errorf("%s: list slots: %w", u.Describe(), err)
	}
	var found []uint
	var infos []pkcs11.TokenInfo
	var labels []string
	for _, slot := range slots {
		ti, err := c.GetTokenInfo(slot)
		if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		labels = append(labels, fmt.Sprintf("%q", ti.Label))
		if u.matches(slot, ti) {
			found = append(found, slot)
			infos = append(infos, ti)
		}
	}
	switch {
	case len(found) == 0 && len(labels) == 0:
		return nil, fmt.Errorf("%s: the module has no token present", u.Describe())
	case len(found) == 0:
		return nil, fmt.Errorf("%s: no such token (tokens present: %s)", u.Describe(), strings.Join(labels, ", "))
	case len(found) > 1:
		return nil, fmt.Errorf("%s: %d tokens match: add token=LABEL or serial=SERIAL to the URI", u.Describe(), len(found))
	}
	if u.Token == "" {
		u.Token = infos[0].Label // so that later messages name the token
	}
	sh, err := c.OpenSession(found[0], pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, fmt.Errorf("%s: open a session: %w", u.Describe(), err)
	}
	return &tokenSession{c: c, sh: sh, info: infos[0]}, nil
}

func (u *PKCS11URI) matches(slot uint, ti pkcs11.TokenInfo) bool {
	return (u.SlotID == nil || *u.SlotID == slot) &&
		(u.Token == "" || u.Token == ti.Label) &&
		(u.Manufacturer == "" || u.Manufacturer == ti.ManufacturerID) &&
		(u.Serial == "" || u.Serial == ti.SerialNumber) &&
		(u.Model == "" || u.Model == ti.Model)
}

// login logs the user in with the PIN u says where to find.
func (t *tokenSession) login(u *PKCS11URI, getenv func(string) string) error {
	pin, err := u.pin(getenv)
	if err != nil {
		return err
	}
	if pin == "" {
		return hint.Wrap(fmt.Errorf("%s: the token needs its user PIN", u.Describe()),
			"set "+PKCS11PinEnv+", or put the PIN in a file and add ?pin-source=FILE to the URI")
	}
	err = t.c.Login(t.sh, pkcs11.CKU_USER, pin)
	switch {
	case err == nil, isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN):
		return nil
	case isCKR(err, pkcs11.CKR_PIN_INCORRECT), isCKR(err, pkcs11.CKR_PIN_LEN_RANGE):
		return fmt.Errorf("%s: wrong PIN", u.Describe())
	case isCKR(err, pkcs11.CKR_PIN_LOCKED):
		return fmt.Errorf("%s: the PIN is locked: unblock it with the token's tools", u.Describe())
	}
	return fmt.Errorf("%s: log in: %w", u.Describe(), err)
}

func (t *tokenSession) close() { _ = t.c.CloseSession(t.sh) }

// find returns the objects of class whose attributes match tmpl.
func (t *tokenSession) find(class uint, tmpl ...*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tmpl = append([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}, tmpl...)
	if err := t.c.FindObjectsInit(t.sh, tmpl); err != nil {
		return nil, err
	}
	defer func() { _ = t.c.FindObjectsFinal(t.sh) }()
	var all []pkcs11.ObjectHandle
	for {
		objs, _, err := t.c.FindObjects(t.sh, 64)
		if err != nil {
			return nil, err
		}
		if len(objs) == 0 {
			return all, nil
		}
		all = append(all, objs...)
	}
}

// uriTemplate is the label and id a URI asks for.
func uriTemplate(u *PKCS11URI) []*pkcs11.Attribute {
	var tmpl []*pkcs11.Attribute
	if u.Object != "" {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.Object))
	}
	if u.ID != nil {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, u.ID))
	}
	return tmpl
}

// one picks the single object of class the URI names.
func (t *tokenSession) one(u *PKCS11URI, class uint, what string) (pkcs11.ObjectHandle, error) {
	objs, err := t.find(class, uriTemplate(u)...)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%s: find the %s: %w", u.Describe(), what, err)
	case len(objs) == 0:
		return 0, hint.Wrap(fmt.Errorf("%s: no such %s on the token", u.Describe(), what),
			"list the token's keys with 'otactl key list --pkcs11-module MODULE'")
	case len(objs) > 1:
		return 0, fmt.Errorf("%s: %d %ss match: add id=%%XX to the URI", u.Describe(), len(objs), what)
	}
	return objs[0], nil
}

// keyAttrs reads a public key object.
type keyAttrs struct {
	label, id     []byte
	keyType       uint
	params, point []byte
}

func (t *tokenSession) attrs(o pkcs11.ObjectHandle) (keyAttrs, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var k keyAttrs
	for _, a := range []struct {
		typ uint
		dst *[]byte
	}{{pkcs11.CKA_LABEL, &k.label}, {pkcs11.CKA_ID, &k.id}, {pkcs11.CKA_EC_PARAMS, &k.params}, {pkcs11.CKA_EC_POINT, &k.point}} {
		// One attribute at a time: a key that has no EC_PARAMS (RSA)
		// must still show its label.
		got, err := t.c.GetAttributeValue(t.sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(a.typ, nil)})
		if err == nil && len(got) == 1 {
			*a.dst = got[0].Value
		}
	}
	got, err := t.c.GetAttributeValue(t.sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil)})
	if err != nil {
		return k, err
	}
	k.keyType = ulong(got[0].Value)
	return k, nil
}

// ulong decodes a CK_ULONG attribute value (native byte order, which is
// little-endian on every platform otactl is built for).
func ulong(b []byte) uint {
	var n uint
	for i := len(b) - 1; i >= 0; i-- {
		n = n<<8 | uint(b[i])
	}
	return n
}

// public reads the public key of the key pair u names: its public key
// object, found by the URI's label and id.
func (t *tokenSession) public(u *PKCS11URI) (crypto.PublicKey, error) {
	o, err := t.one(u, pkcs11.CKO_PUBLIC_KEY, "public key")
	if err != nil {
		return nil, err
	}
	k, err := t.attrs(o)
	if err != nil {
		return nil, fmt.Errorf("%s: read the public key: %w", u.Describe(), err)
	}
	pub, err := tokenPublic(k.keyType, k.params, k.point)
	if err != nil {
		return nil, fmt.Errorf("%s: the key %w", u.Describe(), err)
	}
	return pub, nil
}

// openPKCS11Signer logs in to the token u names and returns its key as a
// crypto.Signer that signs on the token.
func openPKCS11Signer(u *PKCS11URI, module string, getenv func(string) string) (crypto.Signer, error) {
	t, err := openToken(u, module)
	if err != nil {
		return nil, err
	}
	if err := t.login(u, getenv); err != nil {
		t.close()
		return nil, err
	}
	key, err := t.one(u, pkcs11.CKO_PRIVATE_KEY, "private key")
	if err != nil {
		t.close()
		return nil, err
	}
	pub, err := t.public(u)
	if err != nil {
		t.close()
		return nil, err
	}
	s := &tokenSigner{t: t, key: key, pub: pub, name: u.Describe()}
	if t.alwaysAuthenticate(key) {
		// A key that asks for the PIN at every use (a YubiKey's PIV
		// slot 9c): log in again after each SignInit.
		if s.pin, err = u.pin(getenv); err != nil {
			t.close()
			return nil, err
		}
	}
	return s, nil
}

// alwaysAuthenticate says whether a private key wants the PIN before
// each signature (CKA_ALWAYS_AUTHENTICATE).
func (t *tokenSession) alwaysAuthenticate(key pkcs11.ObjectHandle) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	got, err := t.c.GetAttributeValue(t.sh, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_AUTHENTICATE, nil)})
	return err == nil && len(got) == 1 && len(got[0].Value) == 1 && got[0].Value[0] != 0
}

// openPKCS11Public reads the public key u names, logging in only when the
// token keeps its public key objects private.
func openPKCS11Public(u *PKCS11URI, module string, getenv func(string) string) (crypto.PublicKey, error) {
	t, err := openToken(u, module)
	if err != nil {
		return nil, err
	}
	defer t.close()
	pub, err := t.public(u)
	if err == nil || !hasPIN(u, getenv) {
		return pub, err
	}
	if lerr := t.login(u, getenv); lerr != nil {
		return nil, lerr
	}
	return t.public(u)
}

func hasPIN(u *PKCS11URI, getenv func(string) string) bool {
	return u.PinSource != "" || getenv(PKCS11PinEnv) != ""
}

// tokenSigner signs on the token: ECDSA P-256 (CKM_ECDSA over a SHA-256
// hash, DER-encoded here) or Ed25519 (CKM_EDDSA over the message).
type tokenSigner struct {
	t    *tokenSession
	key  pkcs11.ObjectHandle
	pub  crypto.PublicKey
	name string
	pin  string // set for a key that wants the PIN at every signature
}

func (s *tokenSigner) Public() crypto.PublicKey { return s.pub }

func (s *tokenSigner) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	switch s.pub.(type) {
	case *ecdsa.PublicKey:
		if opts.HashFunc() != crypto.SHA256 || len(msg) != 32 {
			return nil, fmt.Errorf("%s: ECDSA P-256 signs a SHA-256 hash", s.name)
		}
		raw, err := s.sign(pkcs11.CKM_ECDSA, msg)
		if err != nil {
			return nil, err
		}
		if len(raw) != 64 {
			return nil, fmt.Errorf("%s: the token returned a %d-byte ECDSA signature, not 64", s.name, len(raw))
		}
		return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])})
	case ed25519.PublicKey:
		if opts.HashFunc() != crypto.Hash(0) {
			return nil, fmt.Errorf("%s: Ed25519 signs the message itself, not a hash", s.name)
		}
		return s.sign(ckmEdDSA, msg)
	}
	return nil, fmt.Errorf("%s: %w", s.name, errTokenAlgo)
}

func (s *tokenSigner) sign(mech uint, msg []byte) ([]byte, error) {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if err := s.t.c.SignInit(s.t.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, s.key); err != nil {
		if isCKR(err, pkcs11.CKR_MECHANISM_INVALID) {
			return nil, fmt.Errorf("%s: the token cannot sign with this key's algorithm (%w)", s.name, err)
		}
		return nil, fmt.Errorf("%s: sign: %w", s.name, err)
	}
	if s.pin != "" {
		if err := s.t.c.Login(s.t.sh, pkcs11.CKU_CONTEXT_SPECIFIC, s.pin); err != nil {
			return nil, fmt.Errorf("%s: log in for this signature: %w", s.name, err)
		}
	}
	sig, err := s.t.c.Sign(s.t.sh, msg)
	if err != nil {
		return nil, fmt.Errorf("%s: sign: %w", s.name, err)
	}
	return sig, nil
}

// ListPKCS11 lists the key pairs on every token module offers: each
// public key object, named by a pkcs11: URI that --sign takes. It logs in
// to a token only when OTACTL_PKCS11_PIN is set (some tokens show their
// public keys only then).
func ListPKCS11(module string, getenv func(string) string) ([]Info, error) {
	c, err := loadModule(module)
	if err != nil {
		return nil, err
	}
	slots, err := c.GetSlotList(true)
	if err != nil {
		return nil, fmt.Errorf("PKCS#11 module %s: list slots: %w", showPath(module), err)
	}
	var out []Info
	for _, slot := range slots {
		ti, err := c.GetTokenInfo(slot)
		if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		u := &PKCS11URI{Token: ti.Label}
		infos, err := listToken(c, slot, u, getenv)
		if err != nil {
			return nil, err
		}
		out = append(out, infos...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func listToken(c *pkcs11.Ctx, slot uint, u *PKCS11URI, getenv func(string) string) ([]Info, error) {
	sh, err := c.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 token %q: open a session: %w", u.Token, err)
	}
	t := &tokenSession{c: c, sh: sh}
	defer t.close()
	if getenv(PKCS11PinEnv) != "" {
		if err := t.login(u, getenv); err != nil {
			return nil, err
		}
	}
	objs, err := t.find(pkcs11.CKO_PUBLIC_KEY)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 token %q: find keys: %w", u.Token, err)
	}
	var out []Info
	for _, o := range objs {
		k, err := t.attrs(o)
		if err != nil {
			continue
		}
		ku := &PKCS11URI{Token: u.Token, Object: string(k.label), ID: k.id}
		in := Info{Name: ku.String(), Alg: "unsupported", Token: u.Token}
		if pub, err := tokenPublic(k.keyType, k.params, k.point); err == nil {
			if in.Alg, in.KeyID, err = release.Identify(pub); err != nil {
				continue
			}
		}
		out = append(out, in)
	}
	return out, nil
}

// maxPinFile caps how much of a pin-source file is read.
const maxPinFile = 1024

// pin is the token's user PIN: the pin-source file's first line, else
// OTACTL_PKCS11_PIN; "" when neither is given.
func (u *PKCS11URI) pin(getenv func(string) string) (string, error) {
	if u.PinSource == "" {
		return getenv(PKCS11PinEnv), nil
	}
	b, err := regularfile.ReadFile(u.PinSource, maxPinFile)
	if err != nil {
		return "", fmt.Errorf("%s: read the pin-source file: %w", u.Describe(), fileReason(err))
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(line, "\r"), nil
}

// fileReason is why a file could not be read, without its path.
func fileReason(err error) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such file")
	case errors.As(err, &pe):
		return pe.Err
	}
	return err
}

// DER forms of the curves a token key may be on (CKA_EC_PARAMS).
var (
	oidP256      = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	oidEd25519   = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
	nameEd25519  = append([]byte{0x13, 0x0c}, "edwards25519"...)
	errTokenAlgo = errors.New("is neither ECDSA P-256 nor Ed25519, the algorithms otactl signs with")
)

// Key types of CKA_KEY_TYPE (CKK_EC_EDWARDS is PKCS#11 3.0).
const (
	ckkEC        = 0x03
	ckkECEdwards = 0x40
)

// tokenPublic makes a public key of a token key's CKA_KEY_TYPE,
// CKA_EC_PARAMS and CKA_EC_POINT (DER OCTET STRING, or raw from some
// tokens).
func tokenPublic(keyType uint, params, point []byte) (crypto.PublicKey, error) {
	raw := point
	var inner []byte
	if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 &&
		(len(inner) == 65 || len(inner) == ed25519.PublicKeySize) {
		raw = inner
	}
	switch {
	case keyType == ckkEC && string(params) == string(oidP256):
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if err != nil {
			return nil, fmt.Errorf("its P-256 point does not decode: %w", err)
		}
		return pub, nil
	case keyType == ckkECEdwards && (string(params) == string(oidEd25519) || string(params) == string(nameEd25519)):
		if len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("its Ed25519 key is %d bytes, not %d", len(raw), ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(raw), nil
	}
	return nil, errTokenAlgo
}
