package release

import (
	"bytes"
	"crypto"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
)

// Encodings of a signature made outside otactl (docs/keys.md): as openssl
// writes it (binary), or that in base64 or hex.
const (
	SigBinary = "binary"
	SigBase64 = "base64"
	SigHex    = "hex"
)

// ed25519SigSize and p1363Size are the sizes of an Ed25519 signature and of
// an ECDSA P-256 signature written as r||s (IEEE P1363, as PKCS#11 tokens
// and cloud KMS raw formats give it).
const (
	ed25519SigSize = 64
	p1363Size      = 64
)

// CheckSigEncoding refuses an encoding other than binary, base64 or hex.
func CheckSigEncoding(enc string) error {
	switch enc {
	case SigBinary, SigBase64, SigHex:
		return nil
	}
	return fmt.Errorf("unknown signature encoding %q: use binary, base64 or hex", enc)
}

// DecodeSignature reads a signature by a key of algorithm alg made outside
// otactl, in the encoding enc, and returns it as the manifest carries it:
// 64 bytes for ed25519, ASN.1 DER for ecdsa-p256 (64 bytes r||s are
// turned into DER). Surrounding white space of a text encoding is ignored.
// It checks the form only: whether the signature verifies is Attach's
// and Sign's business.
func DecodeSignature(alg string, b []byte, enc string) ([]byte, error) {
	var raw []byte
	switch enc {
	case SigBinary:
		raw = b
	case SigBase64:
		t := string(bytes.Join(bytes.Fields(b), nil))
		d, err := base64.StdEncoding.DecodeString(t)
		if err != nil {
			if d, err = base64.RawStdEncoding.DecodeString(t); err != nil {
				return nil, errors.New("signature is not base64")
			}
		}
		raw = d
	case SigHex:
		d, err := hex.DecodeString(string(bytes.TrimSpace(b)))
		if err != nil {
			return nil, errors.New("signature is not hex")
		}
		raw = d
	default:
		return nil, CheckSigEncoding(enc)
	}
	switch alg {
	case AlgEd25519:
		if len(raw) != ed25519SigSize {
			return nil, fmt.Errorf("ed25519 signature is %d bytes, want %d", len(raw), ed25519SigSize)
		}
		return raw, nil
	case AlgECDSAP256:
		if isDERSig(raw) {
			return raw, nil
		}
		if len(raw) == p1363Size {
			return p1363ToDER(raw)
		}
		return nil, fmt.Errorf("ecdsa-p256 signature of %d bytes is neither ASN.1 DER nor 64 bytes r||s", len(raw))
	}
	return nil, fmt.Errorf("unsupported algorithm %q", alg)
}

// isDERSig says whether b is exactly one DER ECDSA signature.
func isDERSig(b []byte) bool {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(b, &sig)
	return err == nil && len(rest) == 0
}

func p1363ToDER(b []byte) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	sig.R = new(big.Int).SetBytes(b[:p1363Size/2])
	sig.S = new(big.Int).SetBytes(b[p1363Size/2:])
	return asn1.Marshal(sig)
}

// Attach adds a signature by pub over m's release digest that was made
// elsewhere (an offline ceremony, a signing service), given as data in the
// encoding enc, or in any of binary, base64 and hex when enc is "". It is
// verified first, and a signature that does not verify, like a manifest
// whose hash is not its digest, is refused with an error wrapping
// ErrVerification. A signature by the same key is replaced, as by Sign.
func (m *Manifest) Attach(pub crypto.PublicKey, data []byte, enc string) error {
	if err := m.CheckSealed(); err != nil {
		return err
	}
	alg, id, err := Identify(pub)
	if err != nil {
		return err
	}
	encs := []string{enc}
	if enc == "" {
		encs = []string{SigBinary, SigBase64, SigHex}
	}
	digest := m.Digest()
	var decodeErr error
	decoded := false
	for _, e := range encs {
		raw, err := DecodeSignature(alg, data, e)
		if err != nil {
			if decodeErr == nil {
				decodeErr = err
			}
			continue
		}
		decoded = true
		sig := Signature{KeyID: id, Alg: alg, Sig: base64.StdEncoding.EncodeToString(raw)}
		if VerifySignature(pub, digest, sig) == nil {
			m.addSignature(sig)
			return nil
		}
	}
	if !decoded {
		return fmt.Errorf("%w: %v", ErrVerification, decodeErr)
	}
	return fmt.Errorf("%w: bad %s signature: it is not key %s's signature over release digest %s", ErrVerification, alg, id, m.Hash)
}

// CheckSealed refuses an invalid manifest, and with an error wrapping
// ErrVerification one whose hash is not its release digest.
func (m *Manifest) CheckSealed() error {
	if err := m.Validate(); err != nil {
		return err
	}
	if want := m.DigestHex(); m.Hash != want {
		return fmt.Errorf("%w: manifest hash %s is not its release digest %s: the manifest was changed after it was sealed", ErrVerification, m.Hash, want)
	}
	return nil
}
