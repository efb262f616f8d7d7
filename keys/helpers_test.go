package keys

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"sort"
	"sync"
	"testing"

	"github.com/otactl/otactl/internal/testsecrets"
)

// requireReal skips a test whose real part is missing, or fails it when
// OTACTL_TEST_REQUIRE_REAL=1.
func requireReal(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("OTACTL_TEST_REQUIRE_REAL") == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// needTool returns the path of a program, or skips (fails under
// OTACTL_TEST_REQUIRE_REAL=1) when it is missing.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		requireReal(t, "%s not found: %v", name, err)
	}
	return p
}

// fakeKeyring is an in-memory Keyring that can be told to fail.
type fakeKeyring struct {
	mu      sync.Mutex
	m       map[[2]string]string
	failSet func(service, user string) error
	failGet func(service, user string) error
}

func newFakeKeyring() *fakeKeyring { return &fakeKeyring{m: map[[2]string]string{}} }

func (f *fakeKeyring) Get(service, user string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failGet != nil {
		if err := f.failGet(service, user); err != nil {
			return "", err
		}
	}
	v, ok := f.m[[2]string{service, user}]
	if !ok {
		return "", ErrNotFound
	}
	return v, nil
}

func (f *fakeKeyring) Set(service, user, secret string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failSet != nil {
		if err := f.failSet(service, user); err != nil {
			return err
		}
	}
	f.m[[2]string{service, user}] = secret
	testsecrets.Observe("keyring entry "+user, secret)
	return nil
}

func (f *fakeKeyring) Delete(service, user string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := [2]string{service, user}
	if _, ok := f.m[k]; !ok {
		return ErrNotFound
	}
	delete(f.m, k)
	return nil
}

// entries lists the stored "service user" pairs, sorted.
func (f *fakeKeyring) entries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.m {
		out = append(out, k[0]+" "+k[1])
	}
	sort.Strings(out)
	return out
}

func (f *fakeKeyring) raw(service, user string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[[2]string{service, user}]
	return v, ok
}

// keyPEM makes a private key and its PKCS#8 PEM.
func keyPEM(t *testing.T, alg string) (crypto.Signer, []byte) {
	t.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := MarshalPrivatePEM(k)
	if err != nil {
		t.Fatal(err)
	}
	testsecrets.RegisterKey(t, "keyPEM "+alg+" key", k)
	return k, p
}

// listed is the names of the keys s.List returns; the test fails when
// List does.
func listed(t *testing.T, s *Store) []string {
	t.Helper()
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, i := range list {
		out = append(out, i.Name)
	}
	return out
}

// generated is s.Generate(name, alg); the test fails when it does.
func generated(t *testing.T, s *Store, name, alg string) Info {
	t.Helper()
	info, err := s.Generate(name, alg)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// generate makes keys of the default algorithm under names in s.
func generate(t *testing.T, s *Store, names ...string) {
	t.Helper()
	for _, n := range names {
		generated(t, s, n, "")
	}
}

// setPassword is s.SetPassword; the test fails when it does.
func setPassword(t *testing.T, s *Store, broker, user, password string) {
	t.Helper()
	if err := s.SetPassword(broker, user, password); err != nil {
		t.Fatal(err)
	}
}

// deletePassword deletes the password of user at broker from s and checks
// that it is gone: it is not read back, and a second delete finds nothing.
func deletePassword(t *testing.T, s *Store, broker, user string) {
	t.Helper()
	if err := s.DeletePassword(broker, user); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Password(broker, user); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Password after delete: %v", err)
	}
	if err := s.DeletePassword(broker, user); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeletePassword: %v", err)
	}
}

// keyIDForTest computes a key id as docs/protocol.md#signatures says,
// independently of release.KeyID, to check it.
func keyIDForTest(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8])
}

var errInjected = errors.New("injected failure")
