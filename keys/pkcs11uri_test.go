package keys

import (
	"strings"
	"testing"
)

func TestParsePKCS11URIRefuses(t *testing.T) {
	for _, tc := range []struct{ uri, want string }{
		{"pkcs11:object=k?pin-value=0000-SECRET", "pin-value is refused"},
		{"pkcs11:object=k?pin-source=|/bin/get-pin-SECRET", "must be a file, not a command"},
		{"pkcs11:object=k?module-name=SECRET", "module-name is not supported"},
		{"pkcs11:object=k?x-vendor=SECRET", `query attribute "x-vendor" is not supported`},
		{"pkcs11:object=k;library-version=SECRET", `attribute "library-version" is not supported`},
		{"pkcs11:object=k;type=cert", "type must be private or public"},
		{"pkcs11:object=k;slot-id=SECRET", "slot-id is not a number"},
		{"pkcs11:object=%zzSECRET", `attribute "object" is not percent-encoded`},
		{"pkcs11:objectSECRET", "is not NAME=VALUE"},
		{"pkcs11:token=t", "names no key"},
		{"pkcs11:", "names no key"},
	} {
		_, err := ParsePKCS11URI(tc.uri)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.uri, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: error %q repeats a value", tc.uri, err)
		}
	}
}

func TestParsePKCS11URI(t *testing.T) {
	u, err := ParsePKCS11URI("pkcs11:token=My%20Token;serial=0123;object=release%2Fkey;id=%01%AB;type=private?pin-source=file:///run/pin&module-path=/usr/lib/softhsm/libsofthsm2.so")
	if err != nil {
		t.Fatal(err)
	}
	if u.Token != "My Token" || u.Serial != "0123" || u.Object != "release/key" || string(u.ID) != "\x01\xab" ||
		u.PinSource != "/run/pin" || u.ModulePath != "/usr/lib/softhsm/libsofthsm2.so" {
		t.Fatalf("parsed %+v", u)
	}
	if got, want := u.Describe(), `pkcs11 token "My Token" key "release/key" (id 01ab)`; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if got, want := u.String(), "pkcs11:token=My%20Token;object=release%2Fkey;id=%01%AB"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	back, err := ParsePKCS11URI(u.String())
	if err != nil || back.Token != u.Token || back.Object != u.Object || string(back.ID) != string(u.ID) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if u, err := ParsePKCS11URI("pkcs11:slot-id=3;object=k?pin-source=/p"); err != nil || *u.SlotID != 3 || u.PinSource != "/p" {
		t.Fatalf("slot-id: %+v, %v", u, err)
	}
}
