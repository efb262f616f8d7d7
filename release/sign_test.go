package release

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/testkeys"
)

func TestKeyIDAndAlgorithm(t *testing.T) {
	ed := loadSigner(t, "vector-ed25519.pem").(ed25519.PrivateKey)
	edPub := ed.Public().(ed25519.PublicKey)
	ec := loadSigner(t, "vector-ecdsa-p256.pem").(*ecdsa.PrivateKey)
	p384, rsaKey := testkeys.P384(t), testkeys.RSA(t)
	tests := []struct {
		name   string
		pub    crypto.PublicKey
		id     string
		alg    string
		errHas string
	}{
		{"ed25519", edPub, vectorEdKeyID, AlgEd25519, ""},
		{"ed25519 pointer", &edPub, vectorEdKeyID, AlgEd25519, ""},
		{"ecdsa", &ec.PublicKey, vectorECKeyID, AlgECDSAP256, ""},
		{"ecdsa value", ec.PublicKey, vectorECKeyID, AlgECDSAP256, ""},
		{"p384", &p384.PublicKey, "", "", "ECDSA on P-384"},
		{"rsa", &rsaKey.PublicKey, "", "", "unsupported key type *rsa.PublicKey"},
		{"short ed25519", ed25519.PublicKey(edPub[:31]), "", "", "31 bytes"},
		{"nil", nil, "", "", "unsupported key type"},
		{"nil ecdsa", (*ecdsa.PublicKey)(nil), "", "", "unsupported key type"},
	}
	for _, tt := range tests {
		id, err1 := KeyID(tt.pub)
		alg, err2 := Algorithm(tt.pub)
		if tt.errHas != "" {
			for _, err := range []error{err1, err2} {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("%s: err %v, want %q", tt.name, err, tt.errHas)
				}
			}
			continue
		}
		if err1 != nil || err2 != nil || id != tt.id || alg != tt.alg {
			t.Errorf("%s: KeyID %q %v, Algorithm %q %v", tt.name, id, err1, alg, err2)
		}
	}
}

func TestSignReplacesAndSorts(t *testing.T) {
	ed := loadSigner(t, "vector-ed25519.pem")
	ec := loadSigner(t, "vector-ecdsa-p256.pem")
	a, b := vectorManifest(), vectorManifest()
	for _, s := range []crypto.Signer{ec, ed} {
		if err := a.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []crypto.Signer{ed, ec} {
		if err := b.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
	if len(a.Signatures) != 2 || a.Signatures[0].KeyID != vectorEdKeyID || a.Signatures[1].KeyID != vectorECKeyID {
		t.Fatalf("signatures %+v, want sorted by keyid", a.Signatures)
	}
	if a.Signatures[0] != b.Signatures[0] {
		t.Error("ed25519 signatures differ although Ed25519 is deterministic")
	}
	old := a.Signatures[1].Sig
	if err := a.Sign(ec); err != nil {
		t.Fatal(err)
	}
	if len(a.Signatures) != 2 || a.Signatures[1].Sig == old {
		t.Errorf("signing again with the same key did not replace its signature: %+v", a.Signatures)
	}
	if v := Verify(t.Context(), a, VerifyOptions{Keys: []crypto.PublicKey{ed.Public(), ec.Public()}, Threshold: 2}); !v.OK {
		t.Errorf("verdict %+v", v)
	}
}

func TestSignRefuses(t *testing.T) {
	ed := loadSigner(t, "vector-ed25519.pem")
	m := vectorManifest()
	m.SequenceNumber++ // changed after Seal
	err := m.Sign(ed)
	if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), "changed after it was sealed") {
		t.Errorf("stale hash: %v", err)
	}
	m = vectorManifest()
	m.Components[0].Package = "ma in"
	m.Seal()
	if err := m.Sign(ed); err == nil || errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), "invalid package") {
		t.Errorf("invalid manifest: %v", err)
	}
	if err := vectorManifest().Sign(testkeys.RSA(t)); err == nil || !strings.Contains(err.Error(), "unsupported key") {
		t.Errorf("rsa: %v", err)
	}
	// A signer that returns garbage (a broken HSM, the wrong key) is caught.
	m = vectorManifest()
	if err := m.Sign(brokenSigner{ed}); err == nil || !strings.Contains(err.Error(), "does not verify") || len(m.Signatures) != 0 {
		t.Errorf("broken signer: %v, signatures %+v", err, m.Signatures)
	}
	if err := m.Sign(failingSigner{ed}); err == nil || !strings.Contains(err.Error(), "token removed") {
		t.Errorf("failing signer: %v", err)
	}
}

type brokenSigner struct{ crypto.Signer }

func (s brokenSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	sig, err := s.Signer.Sign(r, d, o)
	sig[0] ^= 1
	return sig, err
}

type failingSigner struct{ crypto.Signer }

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("token removed")
}

func TestVerifySignatureRefuses(t *testing.T) {
	ed := loadSigner(t, "vector-ed25519.pem")
	ec := loadSigner(t, "vector-ecdsa-p256.pem")
	m := signedVectorManifest(t)
	d := m.Digest()
	edSig, ecSig := m.Signatures[0], m.Signatures[1]
	tests := []struct {
		name string
		pub  crypto.PublicKey
		sig  Signature
		want string
	}{
		{"other key", ec.Public(), edSig, "is not the key's id"},
		{"alg lie", ed.Public(), Signature{KeyID: edSig.KeyID, Alg: AlgECDSAP256, Sig: edSig.Sig}, `says alg "ecdsa-p256" but the key is ed25519`},
		{"bad base64", ed.Public(), Signature{KeyID: edSig.KeyID, Alg: AlgEd25519, Sig: "%%"}, "not standard base64"},
		{"ed25519 over other bytes", ed.Public(), Signature{KeyID: edSig.KeyID, Alg: AlgEd25519, Sig: ecSig.Sig}, "bad ed25519 signature"},
		{"ecdsa over other bytes", ec.Public(), Signature{KeyID: ecSig.KeyID, Alg: AlgECDSAP256, Sig: edSig.Sig}, "bad ecdsa-p256 signature"},
	}
	for _, tt := range tests {
		err := VerifySignature(tt.pub, d, tt.sig)
		if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrVerification with %q", tt.name, err, tt.want)
		}
	}
}

func BenchmarkDigest(b *testing.B) {
	m := vectorManifest()
	b.SetBytes(int64(len(m.DigestText())))
	for range b.N {
		m.Digest()
	}
}
