package keys

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"reflect"
	"strings"
	"testing"
)

// pemSeeds are key files of every form ParsePrivatePEM and ParsePublicPEM
// read, and near misses.
func pemSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, alg := range []string{"ed25519", "ecdsa-p256"} {
		k, err := GenerateKey(alg)
		if err != nil {
			tb.Fatal(err)
		}
		p, _ := MarshalPrivatePEM(k)
		pub, _ := ExportPublic(k.Public(), "pem", "")
		seeds = append(seeds, p, pub, append(append([]byte{}, pub...), p...))
		if ec, ok := k.(*ecdsa.PrivateKey); ok {
			sec1, _ := x509.MarshalECPrivateKey(ec)
			seeds = append(seeds, append([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"),
				pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...))
		}
	}
	return append(seeds,
		[]byte(""),
		[]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"),
		[]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMA==\n-----END ENCRYPTED PRIVATE KEY-----\n"),
		[]byte("-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nMA==\n-----END EC PRIVATE KEY-----\n"),
		[]byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"),
	)
}

// FuzzParsePEM reads the same text as a private key file and as a public
// key file: neither may fail in any other way than with an error, and
// what they read must round-trip.
func FuzzParsePEM(f *testing.F) {
	for _, s := range pemSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkPrivatePEM(t, b)
		checkPublicPEM(t, b)
	})
}

func checkPrivatePEM(t *testing.T, b []byte) {
	t.Helper()
	k, err := ParsePrivatePEM(b)
	if err != nil {
		if k != nil {
			t.Fatal("key and error")
		}
		return
	}
	p, err := MarshalPrivatePEM(k)
	if err != nil {
		t.Fatalf("parsed key does not marshal: %v", err)
	}
	k2, err := ParsePrivatePEM(p)
	if err != nil || !reflect.DeepEqual(k2.Public(), k.Public()) {
		t.Fatalf("round trip: %v", err)
	}
}

func checkPublicPEM(t *testing.T, b []byte) {
	t.Helper()
	pub, err := ParsePublicPEM(b)
	if err != nil {
		return
	}
	for _, format := range []string{"pem", "der", "c"} {
		if _, err := ExportPublic(pub, format, "fuzz"); err != nil {
			t.Fatalf("parsed key does not export as %s: %v", format, err)
		}
	}
	p, _ := ExportPublic(pub, "pem", "")
	pub2, err := ParsePublicPEM(p)
	if err != nil || !reflect.DeepEqual(pub2, pub) {
		t.Fatalf("public round trip: %v", err)
	}
}

func FuzzDecodeIndex(f *testing.F) {
	for _, s := range []string{`{"keys":["a","b"]}`, `{"keys":[]}`, `{"keys":["b","a","a","../x",".d",""]}`, `{}`, `null`, `[]`, `{"keys":null}`, `{"keys":[1]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := decodeIndex(b)
		if err != nil {
			return
		}
		for i, n := range idx.Keys {
			if ValidateKeyName(n) != nil {
				t.Fatalf("invalid name %q kept", n)
			}
			if i > 0 && idx.Keys[i-1] >= n {
				t.Fatalf("names not sorted and unique: %q", idx.Keys)
			}
		}
	})
}

func FuzzDecodeLogins(f *testing.F) {
	for _, s := range []string{`{"logins":[{"broker":"tcp://h:1883","username":"u"}]}`, `{"logins":[]}`, `{"logins":[{"broker":"","username":"u"},{"broker":"b","username":"u"},{"broker":"b","username":"u"}]}`, `{}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeLogins(b)
		if err != nil {
			return
		}
		for i, x := range l {
			if checkLogin(x.Broker, x.Username) != nil {
				t.Fatalf("invalid login %+v kept", x)
			}
			if i > 0 && !(l[i-1].Broker < x.Broker || l[i-1].Broker == x.Broker && l[i-1].Username < x.Username) {
				t.Fatalf("logins not sorted and unique: %+v", l)
			}
		}
	})
}

// FuzzResolveSignerSecrets checks that whatever the reference, an error
// never shows what the environment variable holds.
func FuzzResolveSignerSecrets(f *testing.F) {
	for _, s := range pemSeeds(f) {
		f.Add("env:", string(s))
	}
	f.Add("env:OTACTL_SIGNING_KEY", "not a key")
	f.Add("env:X", "-----BEGIN PRIVATE KEY-----\nzzzz\n-----END PRIVATE KEY-----\n")
	f.Add("file:/nonexistent", "x")
	f.Add("name", "x")
	f.Fuzz(func(t *testing.T, ref, value string) {
		const marker = "SECRETMARK"
		secret := marker + value
		getenv := func(string) string { return secret }
		s := NewStore(newFakeKeyring())
		_, err := ResolveSigner(ref, s, getenv)
		if err != nil && strings.Contains(err.Error(), marker) && !strings.Contains(ref, marker) {
			t.Fatalf("error shows the environment variable's value: %v", err)
		}
		if _, err := ResolvePublicEnv(ref, s, getenv); err != nil && strings.Contains(err.Error(), marker) && !strings.Contains(ref, marker) {
			t.Fatalf("error shows the environment variable's value: %v", err)
		}
	})
}
