package release

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
)

// messageSigner signs as an external signer does: it is given the
// message (the release digest), never a pre-hash.
type messageSigner struct {
	crypto.Signer
	got []byte
}

func (s *messageSigner) SignMessage(r io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.got = append([]byte(nil), msg...)
	return crypto.SignMessage(s.Signer, r, msg, opts)
}

func TestSignGivesAMessageSignerTheDigest(t *testing.T) {
	for _, name := range []string{"vector-ecdsa-p256.pem", "vector-ed25519.pem"} {
		s := &messageSigner{Signer: loadSigner(t, name)}
		m := vectorManifest()
		if err := m.Sign(s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := m.Digest(); string(s.got) != string(d[:]) {
			t.Errorf("%s: the signer was given %x, want the release digest %x", name, s.got, d)
		}
	}
}

// p1363 is a DER ECDSA signature as 64 bytes r||s.
func p1363(t *testing.T, der []byte) []byte {
	t.Helper()
	r, s, ok := parseDERSig(der)
	if !ok {
		t.Fatal("not a DER signature")
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

func parseDERSig(der []byte) (r, s *big.Int, ok bool) {
	if !isDERSig(der) {
		return nil, nil, false
	}
	var sig struct{ R, S *big.Int }
	_, err := asn1.Unmarshal(der, &sig)
	return sig.R, sig.S, err == nil
}

func TestAttach(t *testing.T) {
	ec := loadSigner(t, "vector-ecdsa-p256.pem")
	ed := loadSigner(t, "vector-ed25519.pem")
	m := vectorManifest()
	d := m.Digest()
	h := sha256.Sum256(d[:])
	ecSig, err := ecdsa.SignASN1(rand.Reader, ec.(*ecdsa.PrivateKey), h[:])
	if err != nil {
		t.Fatal(err)
	}
	edSig, err := ed.Sign(rand.Reader, d[:], crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b) + "\n") }
	hx := func(b []byte) []byte { return []byte(hex.EncodeToString(b) + "\n") }
	for _, c := range []struct {
		name string
		key  crypto.Signer
		data []byte
		enc  string
	}{
		{"ecdsa DER", ec, ecSig, ""},
		{"ecdsa base64", ec, b64(ecSig), ""},
		{"ecdsa hex", ec, hx(ecSig), ""},
		{"ecdsa r||s", ec, p1363(t, ecSig), ""},
		{"ecdsa r||s base64 named", ec, b64(p1363(t, ecSig)), SigBase64},
		{"ed25519 raw", ed, edSig, SigBinary},
		{"ed25519 base64", ed, b64(edSig), ""},
		{"ed25519 hex", ed, hx(edSig), SigHex},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := vectorManifest()
			if err := m.Attach(c.key.Public(), c.data, c.enc); err != nil {
				t.Fatal(err)
			}
			if v := Verify(t.Context(), m, VerifyOptions{Keys: []crypto.PublicKey{c.key.Public()}, Threshold: 1}); !v.OK || len(m.Signatures) != 1 {
				t.Errorf("verdict %+v, signatures %+v", v, m.Signatures)
			}
		})
	}

	wrongDigest := sha256.Sum256([]byte("another release"))
	other, _ := ed.Sign(rand.Reader, wrongDigest[:], crypto.Hash(0))
	changed := vectorManifest()
	changed.SequenceNumber++
	for _, c := range []struct {
		name string
		m    *Manifest
		key  crypto.Signer
		data []byte
		enc  string
		want string
	}{
		{"other digest", vectorManifest(), ed, other, "", "bad ed25519 signature: it is not key " + vectorEdKeyID + "'s signature over release digest"},
		{"other key", vectorManifest(), ec, edSig, "", "bad ecdsa-p256 signature"},
		{"garbage", vectorManifest(), ed, []byte("hello"), "", "ed25519 signature is 5 bytes, want 64"},
		{"named encoding only", vectorManifest(), ed, b64(edSig), SigHex, "signature is not hex"},
		{"changed manifest", changed, ed, edSig, "", "changed after it was sealed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.m.Attach(c.key.Public(), c.data, c.enc)
			if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want ErrVerification and %q", err, c.want)
			}
			if len(c.m.Signatures) != 0 {
				t.Errorf("a refused signature was added: %+v", c.m.Signatures)
			}
		})
	}
}

func TestDecodeSignatureRefuses(t *testing.T) {
	for _, c := range []struct{ alg, enc, data, want string }{
		{AlgECDSAP256, SigBinary, "short", "neither ASN.1 DER nor 64 bytes r||s"},
		{AlgECDSAP256, "pem", "x", `unknown signature encoding "pem"`},
		{AlgEd25519, SigBase64, "***", "signature is not base64"},
		{"rsa", SigBinary, "x", `unsupported algorithm "rsa"`},
	} {
		if _, err := DecodeSignature(c.alg, []byte(c.data), c.enc); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DecodeSignature(%s, %s, %q) error %v, want %q", c.alg, c.enc, c.data, err, c.want)
		}
	}
}
