package keys

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// PEM block types.
const (
	pemPKCS8     = "PRIVATE KEY"
	pemSEC1      = "EC PRIVATE KEY"
	pemPublic    = "PUBLIC KEY"
	pemEncrypted = "ENCRYPTED PRIVATE KEY"
)

// supportedAlgs is how errors name what otactl can sign with.
const supportedAlgs = "ed25519 or ecdsa-p256"

// GenerateKey makes a new private key: alg is "ed25519" (also when empty) or
// "ecdsa-p256".
func GenerateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "", AlgEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate ed25519 key: %w", err)
		}
		return k, nil
	case AlgECDSAP256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate ecdsa-p256 key: %w", err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported key algorithm %q: use %s", alg, supportedAlgs)
	}
}

// MarshalPrivatePEM encodes an ed25519 or ECDSA P-256 private key as a
// PKCS#8 "PRIVATE KEY" PEM block, the form `openssl genpkey` writes.
func MarshalPrivatePEM(k crypto.Signer) ([]byte, error) {
	k, err := checkSigner(k)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPKCS8, Bytes: der}), nil
}

// ParsePrivatePEM reads one private key from PEM text: PKCS#8 "PRIVATE KEY"
// (ed25519 or ECDSA P-256) or SEC1 "EC PRIVATE KEY" (P-256). Other blocks,
// such as the "EC PARAMETERS" that `openssl ecparam -genkey` writes first,
// are skipped. Errors describe the input, never quote it.
func ParsePrivatePEM(b []byte) (crypto.Signer, error) {
	found, pubs, other := pemBlocks(b)
	switch {
	case len(found) > 1:
		return nil, fmt.Errorf("PEM holds %d private keys: give one", len(found))
	case len(found) == 0 && len(pubs) > 0:
		return nil, errors.New("PEM holds a public key, not a private key")
	case len(found) == 0 && other:
		return nil, errors.New("PEM holds no private key")
	case len(found) == 0:
		return nil, errors.New(`not a PEM private key (no "BEGIN PRIVATE KEY" block)`)
	}
	return parsePrivateBlock(found[0])
}

// pemBlocks sorts the PEM blocks in b: private keys (of any kind, so that
// the caller can name what it does not support), public keys, and whether
// there is any other block.
func pemBlocks(b []byte) (privs, pubs []*pem.Block, other bool) {
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return privs, pubs, other
		}
		switch blk.Type {
		case pemPKCS8, pemSEC1, pemEncrypted, "RSA PRIVATE KEY", "DSA PRIVATE KEY", "OPENSSH PRIVATE KEY":
			privs = append(privs, blk)
		case pemPublic:
			pubs = append(pubs, blk)
		default:
			other = true
		}
	}
}

func parsePrivateBlock(blk *pem.Block) (crypto.Signer, error) {
	if blk.Type == pemEncrypted || blk.Headers["Proc-Type"] != "" {
		return nil, errors.New("encrypted private keys are not supported: decrypt it first (openssl pkey -in KEY -out PLAIN.pem)")
	}
	var k any
	var err error
	switch blk.Type {
	case pemPKCS8:
		if k, err = x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
			// Some tools label SEC1 bytes "PRIVATE KEY".
			if ec, err2 := x509.ParseECPrivateKey(blk.Bytes); err2 == nil {
				k, err = ec, nil
			}
		}
	case pemSEC1:
		if k, err = x509.ParseECPrivateKey(blk.Bytes); err != nil {
			if p8, err2 := x509.ParsePKCS8PrivateKey(blk.Bytes); err2 == nil {
				k, err = p8, nil
			}
		}
	case "RSA PRIVATE KEY":
		return nil, fmt.Errorf("unsupported key algorithm RSA: use %s", supportedAlgs)
	case "DSA PRIVATE KEY":
		return nil, fmt.Errorf("unsupported key algorithm DSA: use %s", supportedAlgs)
	case "OPENSSH PRIVATE KEY":
		return nil, errors.New("OpenSSH private keys are not supported: use a PKCS#8 PEM key (openssl genpkey -algorithm ed25519)")
	}
	if err != nil {
		return nil, fmt.Errorf("%s PEM block is not a valid private key: %w", blk.Type, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, unsupportedKey(k)
	}
	return checkSigner(s)
}

// ParsePublicPEM reads one public key from PEM text: an SPKI "PUBLIC KEY"
// block, or a private key whose public part is taken. The key must be
// ed25519 or ECDSA P-256.
func ParsePublicPEM(b []byte) (crypto.PublicKey, error) {
	privs, pubs, _ := pemBlocks(b)
	switch {
	case len(pubs)+len(privs) > 1:
		return nil, fmt.Errorf("PEM holds %d keys: give one", len(pubs)+len(privs))
	case len(privs) == 1:
		s, err := ParsePrivatePEM(b)
		if err != nil {
			return nil, err
		}
		return s.Public(), nil
	case len(pubs) == 0:
		return nil, errors.New(`not a PEM public key (no "BEGIN PUBLIC KEY" block)`)
	}
	return parsePublicDER(pubs[0].Bytes)
}

// parsePublicDER reads a DER SubjectPublicKeyInfo.
func parsePublicDER(der []byte) (crypto.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("not a valid public key: %w", err)
	}
	return checkPublic(k)
}

// checkSigner accepts ed25519 and ECDSA P-256 private keys whose public
// key checkPublic accepts.
func checkSigner(k crypto.Signer) (crypto.Signer, error) {
	switch p := k.(type) {
	case ed25519.PrivateKey:
		if len(p) != ed25519.PrivateKeySize {
			return nil, errors.New("ed25519 private key has the wrong length")
		}
	case *ed25519.PrivateKey:
		if p == nil {
			return nil, errors.New("no private key")
		}
		return checkSigner(*p)
	case *ecdsa.PrivateKey:
		if p == nil {
			return nil, errors.New("no private key")
		}
	case nil:
		return nil, errors.New("no private key")
	default:
		return nil, unsupportedKey(k)
	}
	if _, err := checkPublic(k.Public()); err != nil {
		return nil, err
	}
	return k, nil
}

// checkPublic accepts ed25519 and ECDSA P-256 public keys.
func checkPublic(k crypto.PublicKey) (crypto.PublicKey, error) {
	switch p := k.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return nil, errors.New("ed25519 public key has the wrong length")
		}
		return p, nil
	case *ed25519.PublicKey:
		if p == nil {
			return nil, errors.New("no public key")
		}
		return checkPublic(*p)
	case ecdsa.PublicKey:
		return checkPublic(&p)
	case *ecdsa.PublicKey:
		if p == nil || p.Curve != elliptic.P256() {
			return nil, unsupportedKey(k)
		}
		return p, nil
	case nil:
		return nil, errors.New("no public key")
	default:
		return nil, unsupportedKey(k)
	}
}

func unsupportedKey(k any) error {
	return fmt.Errorf("unsupported key algorithm %s: use %s", describeKey(k), supportedAlgs)
}

// describeKey names a key's algorithm for an error message.
func describeKey(k any) string {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PrivateKey:
		return "ECDSA " + curveName(k.Curve)
	case *ecdsa.PublicKey:
		if k == nil {
			return "ECDSA"
		}
		return "ECDSA " + curveName(k.Curve)
	case *ecdh.PrivateKey:
		return fmt.Sprint(k.Curve())
	case *ecdh.PublicKey:
		return fmt.Sprint(k.Curve())
	default:
		return fmt.Sprintf("%T", k)
	}
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "(unknown curve)"
	}
	return c.Params().Name
}
