//go:build !cgo

package keys

import (
	"strings"
	"testing"
)

func TestPKCS11WithoutCgo(t *testing.T) {
	getenv := func(k string) string {
		if k == PKCS11ModuleEnv {
			return "/usr/lib/softhsm/libsofthsm2.so"
		}
		return ""
	}
	if _, err := ResolveSigner("pkcs11:object=release", nil, getenv); err == nil || !strings.Contains(err.Error(), "built without PKCS#11 support") {
		t.Fatalf("ResolveSigner: %v", err)
	}
	if _, err := ListPKCS11("/usr/lib/softhsm/libsofthsm2.so", getenv); err == nil || !strings.Contains(err.Error(), "built without PKCS#11 support") {
		t.Fatalf("ListPKCS11: %v", err)
	}
}
