// Package testkeys makes throwaway private keys for tests: of the two
// kinds otactl signs with, and of kinds it must refuse. A key it makes is
// new on every call; a test that prints one registers it with
// internal/testsecrets itself.
package testkeys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

// Ed25519 is a new ed25519 key.
func Ed25519(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// P256 is a new ECDSA key on P-256.
func P256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	return ecKey(t, elliptic.P256())
}

// P384 is a new ECDSA key on P-384, a curve otactl does not sign with.
func P384(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	return ecKey(t, elliptic.P384())
}

// RSA is a new 1024-bit RSA key, a kind otactl does not sign with: short,
// so that it is quick to make.
func RSA(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
