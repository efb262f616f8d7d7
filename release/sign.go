package release

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"time"
)

// Signature algorithms (docs/protocol.md#signatures).
const (
	AlgEd25519   = "ed25519"    // plain Ed25519 over the 32 digest bytes
	AlgECDSAP256 = "ecdsa-p256" // ECDSA P-256 with SHA-256 over the 32 digest bytes, ASN.1 DER
)

// publicKey returns pub in the form crypto/x509 marshals, or an error for a
// key type otactl does not sign with.
func publicKey(pub crypto.PublicKey) (crypto.PublicKey, string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return k, AlgEd25519, nil
		}
		return nil, "", fmt.Errorf("ed25519 public key is %d bytes, want %d", len(k), ed25519.PublicKeySize)
	case *ed25519.PublicKey:
		if k != nil {
			return publicKey(*k)
		}
	case *ecdsa.PublicKey:
		if k != nil && k.Curve == elliptic.P256() {
			return k, AlgECDSAP256, nil
		}
		if k != nil && k.Curve != nil {
			return nil, "", fmt.Errorf("unsupported key: ECDSA on %s; use ed25519 or ECDSA P-256", k.Curve.Params().Name)
		}
	case ecdsa.PublicKey:
		return publicKey(&k)
	}
	return nil, "", fmt.Errorf("unsupported key type %T: use ed25519 or ECDSA P-256", pub)
}

// KeyID is a public key's id: the first 16 hex characters of the SHA-256 of
// its DER SubjectPublicKeyInfo, as `openssl pkey -pubin -outform DER` writes it.
func KeyID(pub crypto.PublicKey) (string, error) {
	_, id, err := Identify(pub)
	return id, err
}

// Identify gives a public key's algorithm (Algorithm) and id (KeyID).
func Identify(pub crypto.PublicKey) (alg, id string, err error) {
	k, alg, err := publicKey(pub)
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "", "", fmt.Errorf("marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return alg, hex.EncodeToString(sum[:8]), nil
}

// Algorithm names the signature algorithm of a public key: AlgEd25519 or
// AlgECDSAP256. Other keys are refused.
func Algorithm(pub crypto.PublicKey) (string, error) {
	_, alg, err := publicKey(pub)
	return alg, err
}

// Sign adds s's signature over the release digest, replacing an earlier
// signature by the same key. Signatures are kept sorted by keyid, so the
// order of signing does not change the manifest. It refuses an invalid
// manifest, and a manifest whose Hash is not its digest with an error
// wrapping ErrVerification. The new signature is verified before it is
// added, so a faulty external signer is caught here.
func (m *Manifest) Sign(s crypto.Signer) error {
	if err := m.CheckSealed(); err != nil {
		return err
	}
	sig, err := SignDigest(s, m.Digest())
	if err != nil {
		return err
	}
	m.addSignature(sig)
	return nil
}

// addSignature adds sig, replacing one by the same key, and keeps the
// signatures sorted by keyid.
func (m *Manifest) addSignature(sig Signature) {
	m.Signatures = AddSignature(m.Signatures, sig)
}

// AddSignature adds sig to sigs, replacing an earlier signature by the same
// key, and keeps them sorted by keyid, so the order of signing does not
// change what is published.
func AddSignature(sigs []Signature, sig Signature) []Signature {
	replaced := false
	for i := range sigs {
		if sigs[i].KeyID == sig.KeyID {
			sigs[i] = sig
			replaced = true
		}
	}
	if !replaced {
		sigs = append(sigs, sig)
	}
	sort.SliceStable(sigs, func(i, j int) bool { return sigs[i].KeyID < sigs[j].KeyID })
	return sigs
}

// SignDigest signs the 32 raw bytes of a digest with s as the protocol
// signs them (docs/protocol.md#signatures): Ed25519 over the bytes, or
// ECDSA P-256 with SHA-256 over them. The signature is verified before it
// is returned, so a faulty external signer is caught here.
func SignDigest(s crypto.Signer, digest [32]byte) (Signature, error) {
	pub := s.Public()
	alg, id, err := Identify(pub)
	if err != nil {
		return Signature{}, err
	}
	// A signer that signs messages itself (crypto.MessageSigner: an
	// external signer) gets the digest; any other the SHA-256 of it for
	// ECDSA.
	opts := crypto.SignerOpts(crypto.Hash(0))
	if alg == AlgECDSAP256 {
		opts = crypto.SHA256
	}
	raw, err := crypto.SignMessage(s, rand.Reader, digest[:], opts)
	if err != nil {
		return Signature{}, fmt.Errorf("sign with key %s: %w", id, err)
	}
	sig := Signature{KeyID: id, Alg: alg, Sig: base64.StdEncoding.EncodeToString(raw)}
	if err := VerifySignature(pub, digest, sig); err != nil {
		return Signature{}, fmt.Errorf("the signer of key %s made a signature that does not verify: %w", id, err)
	}
	return sig, nil
}

// VerifySignature checks that sig is pub's signature over digest: the keyid
// and alg must be pub's, and the signature must verify. Errors wrap
// ErrVerification, except for an unsupported key.
func VerifySignature(pub crypto.PublicKey, digest [32]byte, sig Signature) error {
	k, alg, err := publicKey(pub)
	if err != nil {
		return err
	}
	id, err := KeyID(k)
	if err != nil {
		return err
	}
	if sig.KeyID != id {
		return fmt.Errorf("%w: signature keyid %q is not the key's id %s", ErrVerification, truncate(sig.KeyID), id)
	}
	if sig.Alg != alg {
		return fmt.Errorf("%w: signature by key %s says alg %q but the key is %s", ErrVerification, id, truncate(sig.Alg), alg)
	}
	raw, err := decodeSig(sig.Sig)
	if err != nil {
		return fmt.Errorf("%w: signature by key %s: %v", ErrVerification, id, err)
	}
	ok := false
	switch alg {
	case AlgEd25519:
		ok = ed25519.Verify(k.(ed25519.PublicKey), digest[:], raw)
	case AlgECDSAP256:
		h := sha256.Sum256(digest[:])
		ok = ecdsa.VerifyASN1(k.(*ecdsa.PublicKey), h[:], raw)
	}
	if !ok {
		return fmt.Errorf("%w: bad %s signature by key %s", ErrVerification, alg, id)
	}
	return nil
}

// CheckNotExpired returns an error wrapping ErrVerification when m has
// expired at now (now is at or after its expiry), so that nobody signs a
// release devices would refuse.
func (m *Manifest) CheckNotExpired(now time.Time) error {
	if exp, ok := m.ExpiresAt(); ok && !now.Before(exp) {
		return fmt.Errorf("%w: manifest expired at %s", ErrVerification, m.Expires)
	}
	return nil
}

// SetExpiry gives m the expiry t (RFC 3339 UTC, whole seconds) and seals
// it again. The release digest changes, so every signature is dropped: it
// returns how many. Like Sign it refuses an invalid manifest and, wrapping
// ErrVerification, one whose hash is not its digest: a changed manifest is
// never sealed afresh.
func (m *Manifest) SetExpiry(t time.Time) (dropped int, err error) {
	if err := m.CheckSealed(); err != nil {
		return 0, err
	}
	m.Expires = t.UTC().Truncate(time.Second).Format(time.RFC3339)
	before := len(m.Signatures)
	m.Seal()
	return before - len(m.Signatures), nil
}
