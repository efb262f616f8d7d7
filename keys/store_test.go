package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/otactl/otactl/internal/hint"
)

// checkSigns signs a digest with k and verifies it with pub the way
// docs/protocol.md#signatures says.
func checkSigns(t *testing.T, k crypto.Signer, pub crypto.PublicKey) {
	t.Helper()
	digest := sha256.Sum256([]byte("ota-release-digest-v1\n"))
	switch p := pub.(type) {
	case ed25519.PublicKey:
		sig, err := k.Sign(rand.Reader, digest[:], crypto.Hash(0))
		if err != nil {
			t.Fatal(err)
		}
		if !ed25519.Verify(p, digest[:], sig) {
			t.Fatal("ed25519 signature does not verify")
		}
	case *ecdsa.PublicKey:
		h := sha256.Sum256(digest[:])
		sig, err := k.Sign(rand.Reader, h[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(p, h[:], sig) {
			t.Fatal("ecdsa signature does not verify")
		}
	default:
		t.Fatalf("public key of type %T", pub)
	}
}

func TestGenerateListDelete(t *testing.T) {
	kr := newFakeKeyring()
	s := NewStore(kr)

	b := generated(t, s, "zeta", "ecdsa-p256")
	a := generated(t, s, "alpha", "")
	if a.Alg != "ed25519" || b.Alg != "ecdsa-p256" {
		t.Fatalf("algs %q %q", a.Alg, b.Alg)
	}
	for _, info := range []Info{a, b} {
		pub, err := s.Public(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		if want := keyIDForTest(t, pub); info.KeyID != want || len(info.KeyID) != 16 {
			t.Fatalf("%s: keyid %q, want %q", info.Name, info.KeyID, want)
		}
		k, err := s.Signer(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		checkSigns(t, k, pub)
		got, err := s.Info(info.Name)
		if err != nil || got != info {
			t.Fatalf("Info(%s) = %+v, %v; want %+v", info.Name, got, err, info)
		}
	}

	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(list, []Info{a, b}) {
		t.Fatalf("List = %+v", list)
	}
	wantEntries := []string{"otactl index", "otactl key:alpha", "otactl key:zeta"}
	if got := kr.entries(); !reflect.DeepEqual(got, wantEntries) {
		t.Fatalf("keyring entries %q, want %q", got, wantEntries)
	}
	if v, _ := kr.raw(Service, "index"); v != `{"keys":["alpha","zeta"]}` {
		t.Fatalf("index entry %s", v)
	}
	if v, _ := kr.raw(Service, "key:alpha"); !strings.HasPrefix(v, "-----BEGIN PRIVATE KEY-----\n") {
		t.Fatalf("stored key is not PKCS#8 PEM: %.30q", v)
	}

	if err := s.Delete("alpha"); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, s); !reflect.DeepEqual(got, []string{"zeta"}) {
		t.Fatalf("after delete: %q", got)
	}
	if err := s.Delete("alpha"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Signer("alpha"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `key "alpha"`) {
		t.Fatalf("Signer of deleted key: %v", err)
	}
	if _, err := s.Public("alpha"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Public of deleted key: %v", err)
	}
	if err := s.Delete("zeta"); err != nil {
		t.Fatal(err)
	}
	if got := kr.entries(); len(got) != 0 {
		t.Fatalf("entries left after the last key went: %q", got)
	}
	list, err = s.List()
	if err != nil || list == nil || len(list) != 0 {
		t.Fatalf("empty List = %#v, %v", list, err)
	}
}

func TestListEmptyKeyring(t *testing.T) {
	list, err := NewStore(newFakeKeyring()).List()
	if err != nil || list == nil || len(list) != 0 {
		t.Fatalf("List = %#v, %v", list, err)
	}
}

func TestGenerateRefuses(t *testing.T) {
	kr := newFakeKeyring()
	s := NewStore(kr)
	first := generated(t, s, "release", "ed25519")
	before, _ := kr.raw(Service, "key:release")

	_, err := s.Generate("release", "ecdsa-p256")
	if !errors.Is(err, ErrExists) || err.Error() != `key "release" already exists in the keyring` {
		t.Fatalf("existing name: %v", err)
	}
	if after, _ := kr.raw(Service, "key:release"); after != before {
		t.Fatal("existing key was overwritten")
	}
	if info, err := s.Info("release"); err != nil || info != first {
		t.Fatalf("key changed: %+v %v", info, err)
	}

	for _, tc := range []struct{ name, alg, want string }{
		{"other", "rsa", `unsupported key algorithm "rsa"`},
		{"other", "ecdsa-p384", `unsupported key algorithm "ecdsa-p384"`},
		{"", "ed25519", "key name is empty"},
		{".hidden", "ed25519", "starts with '.'"},
		{"a/b", "ed25519", `'/'`},
		{strings.Repeat("k", 65), "ed25519", "longer than 64"},
	} {
		if _, err := s.Generate(tc.name, tc.alg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Generate(%q, %q) = %v, want %q", tc.name, tc.alg, err, tc.want)
		}
	}
	if got := kr.entries(); !reflect.DeepEqual(got, []string{"otactl index", "otactl key:release"}) {
		t.Fatalf("refused generates left entries: %q", got)
	}
}

func TestIndexNamingDeletedKey(t *testing.T) {
	kr := newFakeKeyring()
	s := NewStore(kr)
	generate(t, s, "a", "b", "c")
	// Another tool (seahorse, secret-tool) removes b's secret.
	if err := kr.Delete(Service, "key:b"); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, s); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Fatalf("List = %q", got)
	}
	if err := s.Delete("b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete(b) = %v", err)
	}
	if v, _ := kr.raw(Service, "index"); v != `{"keys":["a","c"]}` {
		t.Fatalf("stale name not dropped: %s", v)
	}
	if _, err := s.Generate("b", "ecdsa-p256"); err != nil {
		t.Fatalf("name of a deleted key is free again: %v", err)
	}
}

func TestIndexUntidy(t *testing.T) {
	kr := newFakeKeyring()
	s := NewStore(kr)
	generate(t, s, "m", "b")
	// Duplicates, disorder, invalid names and unknown fields, as a hand edit
	// or a later version might leave them.
	if err := kr.Set(Service, "index", `{"keys":["m","../x","b","m","",".dot"],"future":1}`); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, s); !reflect.DeepEqual(got, []string{"b", "m"}) {
		t.Fatalf("List = %q", got)
	}
	generate(t, s, "a")
	if v, _ := kr.raw(Service, "index"); v != `{"keys":["a","b","m"]}` {
		t.Fatalf("index %s", v)
	}
}

func TestIndexDamaged(t *testing.T) {
	kr := newFakeKeyring()
	s := NewStore(kr)
	if err := kr.Set(Service, "index", "not json"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), `key index in the keyring (service "otactl", user "index") is damaged: invalid character`) {
		t.Fatalf("List = %v", err)
	}
	if _, err := s.Generate("k", ""); err == nil {
		t.Fatal("Generate wrote over a damaged index")
	}
	if _, ok := kr.raw(Service, "key:k"); ok {
		t.Fatal("Generate stored a key it cannot list")
	}
	if v, _ := kr.raw(Service, "index"); v != "not json" {
		t.Fatal("damaged index was overwritten")
	}
	// A key can still be deleted, and used.
	k, p := keyPEM(t, "")
	if err := kr.Set(Service, "key:k", string(p)); err != nil {
		t.Fatal(err)
	}
	if got, err := ResolveSigner("k", s, nil); err != nil || !reflect.DeepEqual(got.Public(), k.Public()) {
		t.Fatalf("ResolveSigner with a damaged index: %v", err)
	}
	if err := s.Delete("k"); err != nil {
		t.Fatalf("Delete with a damaged index: %v", err)
	}
	if got := kr.entries(); !reflect.DeepEqual(got, []string{"otactl index"}) {
		t.Fatalf("entries %q", got)
	}
	// Same for the login index.
	if err := kr.Set(Service, "logins", "[oops"); err != nil {
		t.Fatal(err)
	}
	if err := kr.Set(Service, "password:u@b", "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Logins(); err == nil || !strings.Contains(err.Error(), `login index in the keyring (service "otactl", user "logins") is damaged`) {
		t.Fatalf("Logins = %v", err)
	}
	if err := s.SetPassword("b", "u", "new"); err == nil {
		t.Fatal("SetPassword wrote over a damaged login index")
	}
	if err := s.DeletePassword("b", "u"); err != nil {
		t.Fatalf("DeletePassword with a damaged login index: %v", err)
	}
}

func TestUnlistedKeyIsAdopted(t *testing.T) {
	kr := newFakeKeyring()
	s := NewStore(kr)
	k, _ := GenerateKey("")
	p, _ := MarshalPrivatePEM(k)
	// A key whose index update was lost (another otactl wrote the index at
	// the same moment).
	if err := kr.Set(Service, "key:orphan", string(p)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Generate("orphan", ""); !errors.Is(err, ErrExists) {
		t.Fatalf("Generate over an unlisted key: %v", err)
	}
	if got := listed(t, s); !reflect.DeepEqual(got, []string{"orphan"}) {
		t.Fatalf("List = %q", got)
	}
	if v, _ := kr.raw(Service, "key:orphan"); v != string(p) {
		t.Fatal("unlisted key was replaced")
	}
}

func TestIndexWriteFailureTakesKeyBack(t *testing.T) {
	kr := newFakeKeyring()
	kr.failSet = func(_, user string) error {
		if user == "index" {
			return &UnavailableError{Err: errInjected}
		}
		return nil
	}
	s := NewStore(kr)
	_, err := s.Generate("k", "")
	if !errors.Is(err, ErrKeyringUnavailable) || !errors.Is(err, errInjected) {
		t.Fatalf("Generate = %v", err)
	}
	if got := kr.entries(); len(got) != 0 {
		t.Fatalf("entries left behind: %q", got)
	}
}

func TestDamagedKeySecret(t *testing.T) {
	kr := newFakeKeyring()
	s := NewStore(kr)
	if _, err := s.Generate("k", ""); err != nil {
		t.Fatal(err)
	}
	if err := kr.Set(Service, "key:k", "garbage"); err != nil {
		t.Fatal(err)
	}
	_, err := s.List()
	if err == nil || !strings.Contains(err.Error(), `key "k" in the keyring is damaged`) {
		t.Fatalf("List = %v", err)
	}
	if strings.Contains(err.Error(), "garbage") {
		t.Fatalf("error shows the secret: %v", err)
	}
	if err := s.Delete("k"); err != nil {
		t.Fatalf("a damaged key must still be deletable: %v", err)
	}
}

func TestKeyringUnavailablePropagates(t *testing.T) {
	kr := newFakeKeyring()
	kr.failGet = func(string, string) error { return &UnavailableError{Err: errInjected} }
	kr.failSet = kr.failGet
	s := NewStore(kr)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrKeyringUnavailable) {
			t.Errorf("%s: %v, want ErrKeyringUnavailable", what, err)
			return
		}
		if h := hint.Of(err); !strings.Contains(h, "--sign file:PATH") || !strings.Contains(h, "--sign env:OTACTL_SIGNING_KEY") {
			t.Errorf("%s: hint %q", what, h)
		}
	}
	_, err := s.Generate("k", "")
	check("Generate", err)
	_, err = s.List()
	check("List", err)
	_, err = s.Signer("k")
	check("Signer", err)
	check("Delete", s.Delete("k"))
	check("SetPassword", s.SetPassword("tcp://h:1883", "u", "p"))
	_, err = s.Password("tcp://h:1883", "u")
	check("Password", err)
	_, err = ResolveSigner("k", s, nil)
	check("ResolveSigner", err)
}

func TestImportRoundTrip(t *testing.T) {
	for _, alg := range []string{"ed25519", "ecdsa-p256"} {
		t.Run(alg, func(t *testing.T) {
			k, p := keyPEM(t, alg)
			s := NewStore(newFakeKeyring())
			info, err := s.Import("imported", p)
			if err != nil {
				t.Fatal(err)
			}
			if want := keyIDForTest(t, k.Public()); info.KeyID != want || info.Alg != alg {
				t.Fatalf("Import = %+v, want keyid %s alg %s", info, want, alg)
			}
			got, err := s.Signer("imported")
			if err != nil {
				t.Fatal(err)
			}
			checkSigns(t, got, k.Public())
			if _, err := s.Import("imported", p); !errors.Is(err, ErrExists) {
				t.Fatalf("second import: %v", err)
			}
		})
	}
}

func TestImportRefuses(t *testing.T) {
	s := NewStore(newFakeKeyring())
	for _, tc := range []struct {
		pem  string
		want string
	}{
		{"", "not a PEM private key"},
		{"just text", "not a PEM private key"},
		{"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n", "public key, not a private key"},
		{"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMCowBQYDK2VwAyEA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted private keys are not supported"},
		{"-----BEGIN RSA PRIVATE KEY-----\nMCowBQYDK2VwAyEA\n-----END RSA PRIVATE KEY-----\n", "unsupported key algorithm RSA"},
		{"-----BEGIN OPENSSH PRIVATE KEY-----\nMCowBQYDK2VwAyEA\n-----END OPENSSH PRIVATE KEY-----\n", "OpenSSH private keys are not supported"},
		{"-----BEGIN PRIVATE KEY-----\nMCowBQYDK2VwAyEA\n-----END PRIVATE KEY-----\n", "PRIVATE KEY PEM block is not a valid private key"},
	} {
		_, err := s.Import("k", []byte(tc.pem))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), `import key "k": `) {
			t.Errorf("Import(%.40q) = %v, want %q", tc.pem, err, tc.want)
		}
	}
}

func TestConcurrentGenerate(t *testing.T) {
	s := NewStore(newFakeKeyring())
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Generate(fmt.Sprintf("k%02d", i), "")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := listed(t, s); len(got) != 16 || got[0] != "k00" || got[15] != "k15" {
		t.Fatalf("List = %q", got)
	}
}
