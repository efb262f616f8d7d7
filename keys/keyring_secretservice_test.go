package keys

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"
)

// testService keeps this test's entries apart from a developer's real
// otactl keys; the unit tests check that Store uses Service.
const testService = "otactl-test"

// systemKeyringOrSkip returns the OS keyring when a Secret Service (or the
// platform's keyring) answers; otherwise it skips, or fails under
// OTACTL_TEST_REQUIRE_REAL=1.
func systemKeyringOrSkip(t *testing.T) Keyring {
	t.Helper()
	kr := SystemKeyring()
	_, err := kr.Get(testService, fmt.Sprintf("probe-%d", os.Getpid()))
	switch {
	case errors.Is(err, ErrNotFound):
		return kr
	case errors.Is(err, ErrKeyringUnavailable):
		requireReal(t, "no Secret Service answers (run under dbus-run-session -- scripts/test-in-session): %v", err)
	case err == nil:
		t.Fatal("probe entry unexpectedly present")
	default:
		t.Fatalf("probe: %v", err)
	}
	return nil
}

func TestSecretService(t *testing.T) {
	kr := systemKeyringOrSkip(t)
	s := NewStore(kr)
	s.service = testService
	suffix := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	edName, ecName := "ss-ed-"+suffix, "ss-ec-"+suffix
	t.Cleanup(func() {
		// Leave nothing behind if the test stops half-way.
		for _, n := range []string{edName, ecName} {
			_ = s.Delete(n)
		}
	})

	ed := generated(t, s, edName, "ed25519")
	ec, err := s.Import(ecName, mustPEM(t, "ecdsa-p256"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Generate(edName, "ed25519"); !errors.Is(err, ErrExists) {
		t.Fatalf("Generate over an existing key: %v", err)
	}

	// A new Store (a later otactl run) sees the keys through the index.
	s2 := NewStore(SystemKeyring())
	s2.service = testService
	list, err := s2.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Info{ed, ec} {
		if !slices.Contains(list, want) {
			t.Fatalf("List = %+v lacks %+v", list, want)
		}
	}
	for _, info := range []Info{ed, ec} {
		k, err := s2.Signer(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		if keyIDForTest(t, k.Public()) != info.KeyID {
			t.Fatalf("%s: key read back has another key id", info.Name)
		}
		checkSigns(t, k, k.Public())
		pub, err := s2.Public(info.Name)
		if err != nil || !reflect.DeepEqual(pub, k.Public()) {
			t.Fatalf("Public(%s) = %v", info.Name, err)
		}
	}

	// Signing through a key reference, as `otactl release --sign NAME` does.
	k, err := ResolveSigner(ed.Name, s2, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	checkSigns(t, k, k.Public())

	for _, n := range []string{edName, ecName} {
		if err := s2.Delete(n); err != nil {
			t.Fatal(err)
		}
	}
	list, err = s.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range list {
		if info.Name == edName || info.Name == ecName {
			t.Fatalf("deleted key still listed: %+v", info)
		}
	}
	if _, err := s.Signer(edName); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Signer after delete: %v", err)
	}
	if err := s.Delete(edName); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestSecretServicePasswords(t *testing.T) {
	kr := systemKeyringOrSkip(t)
	s := NewStore(kr)
	s.service = testService
	broker := fmt.Sprintf("mqtts://ss-test-%d-%d.example:8883", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() { _ = s.DeletePassword(broker, "ci@fleet") })

	if _, err := s.Password(broker, "ci@fleet"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Password before login: %v", err)
	}
	setPassword(t, s, broker, "ci@fleet", "first")
	setPassword(t, s, broker, "ci@fleet", "pa ss\twörd")
	if got, err := s.Password(broker, "ci@fleet"); err != nil || got != "pa ss\twörd" {
		t.Fatalf("Password = %q, %v", got, err)
	}
	logins, err := s.Logins()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(logins, Login{Broker: broker, Username: "ci@fleet"}) {
		t.Fatalf("Logins = %+v", logins)
	}
	deletePassword(t, s, broker, "ci@fleet")
}

func mustPEM(t *testing.T, alg string) []byte {
	t.Helper()
	_, p := keyPEM(t, alg)
	return p
}
