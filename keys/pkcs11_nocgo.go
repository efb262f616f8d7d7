//go:build !cgo

package keys

import (
	"crypto"
	"errors"
)

var errNoPKCS11 = errors.New("this otactl was built without PKCS#11 support (CGO_ENABLED=0): use a build made with cgo (docs/keys.md#pkcs11-tokens)")

func openPKCS11Signer(*PKCS11URI, string, func(string) string) (crypto.Signer, error) {
	return nil, errNoPKCS11
}

func openPKCS11Public(*PKCS11URI, string, func(string) string) (crypto.PublicKey, error) {
	return nil, errNoPKCS11
}

// ListPKCS11 lists a module's token keys; this build has no PKCS#11 support.
func ListPKCS11(string, func(string) string) ([]Info, error) { return nil, errNoPKCS11 }
