package keys

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/hint"
)

// helperEnv switches TestKeyringHelperProcess on in a child test binary.
const helperEnv = "OTACTL_KEYS_TEST_HELPER"

// TestKeyringHelperProcess is not a test of its own: the tests below run
// the test binary again with it, so that the child's D-Bus connection (which
// godbus shares process-wide) is made with the environment they set up.
func TestKeyringHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "unavailable" {
		t.Skip("helper for TestSystemKeyringUnavailable")
	}
	checkAllUnavailable(t)
	if !t.Failed() {
		fmt.Println("helper ok")
	}
}

// checkAllUnavailable checks that every keyring path fails with
// ErrKeyringUnavailable and its hint, while file: and env: keys still work.
func checkAllUnavailable(t *testing.T) {
	t.Helper()
	kr := SystemKeyring()
	check := func(what string, err error) {
		t.Helper()
		var ue *UnavailableError
		if !errors.Is(err, ErrKeyringUnavailable) || !errors.As(err, &ue) {
			t.Errorf("%s: %v, want ErrKeyringUnavailable", what, err)
			return
		}
		if got := hint.Of(err); got != "use a key file (--sign file:PATH) or an environment variable (--sign env:OTACTL_SIGNING_KEY)" {
			t.Errorf("%s: hint %q", what, got)
		}
		if !strings.Contains(err.Error(), "OS keyring unavailable") {
			t.Errorf("%s: message %q", what, err)
		}
	}
	_, err := kr.Get(testService, "nothing")
	check("Get", err)
	check("Set", kr.Set(testService, "nothing", "x"))
	check("Delete", kr.Delete(testService, "nothing"))

	s := NewStore(kr)
	s.service = testService
	_, err = s.Generate("k", "")
	check("Generate", err)
	_, err = s.List()
	check("List", err)
	check("Delete", s.Delete("k"))
	_, err = s.Signer("k")
	check("Signer", err)
	check("SetPassword", s.SetPassword("tcp://h:1883", "u", "p"))
	_, err = s.Password("tcp://h:1883", "u")
	check("Password", err)
	_, err = ResolveSigner("release", s, func(string) string { return "" })
	check("ResolveSigner", err)
	_, err = ResolvePublic("release", s)
	check("ResolvePublic", err)

	// CI keys do not touch the keyring.
	_, p := keyPEM(t, "ed25519")
	if _, err := ResolveSigner("env:", s, func(k string) string {
		if k == "OTACTL_SIGNING_KEY" {
			return string(p)
		}
		return ""
	}); err != nil {
		t.Errorf("env: key without a keyring: %v", err)
	}
	f := filepath.Join(t.TempDir(), "k.pem")
	if err := os.WriteFile(f, p, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveSigner("file:"+f, s, nil); err != nil {
		t.Errorf("file: key without a keyring: %v", err)
	}
}

// runHelper runs the test binary's helper with env added, checking it passed.
func runHelper(t *testing.T, name string, args []string, env ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "helper ok") {
		t.Fatalf("helper: %v\n%s", err, out)
	}
}

func helperArgs() []string {
	return []string{"-test.run=^TestKeyringHelperProcess$", "-test.count=1", "-test.v"}
}

func TestSystemKeyringUnavailable(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the Secret Service is Linux's keyring")
	}
	nowhere := "unix:path=" + filepath.Join(t.TempDir(), "no-bus-here")
	runHelper(t, os.Args[0], helperArgs(), helperEnv+"=unavailable", "DBUS_SESSION_BUS_ADDRESS="+nowhere)
}

// TestSystemKeyringNoSessionBus checks that without a session bus otactl
// neither autolaunches one nor waits: it reports the keyring unavailable.
func TestSystemKeyringNoSessionBus(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the Secret Service is Linux's keyring")
	}
	for _, f := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(fmt.Sprintf("/run/user/%d/%s", os.Getuid(), f)); err == nil {
			t.Skipf("this machine has a session bus at /run/user/%d/%s", os.Getuid(), f)
		}
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	_, err := SystemKeyring().Get(testService, "nothing")
	if !errors.Is(err, ErrKeyringUnavailable) || !strings.Contains(err.Error(), "no D-Bus session bus") {
		t.Fatalf("Get = %v", err)
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "autolaunch:")
	if err := SystemKeyring().Set(testService, "nothing", "x"); !errors.Is(err, ErrKeyringUnavailable) {
		t.Fatalf("Set = %v", err)
	}
}

// TestSystemKeyringLocked runs the helper in a D-Bus session of its own
// with a gnome-keyring whose login collection is locked and no display to
// prompt on: every keyring use must fail as unavailable, promptly.
func TestSystemKeyringLocked(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the Secret Service is Linux's keyring")
	}
	drs := needTool(t, "dbus-run-session")
	needTool(t, "gnome-keyring-daemon")
	needTool(t, "dbus-send")
	script := `set -eu
export XDG_DATA_HOME="$1"; shift
eval "$(printf 'otactl-test\n' | gnome-keyring-daemon --unlock --components=secrets)"
dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
	org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null
exec "$@"
`
	args := append([]string{"--", "bash", "-c", script, "locked", t.TempDir(), os.Args[0]}, helperArgs()...)
	// No display: a prompt must not appear on a developer's screen.
	runHelper(t, drs, args, helperEnv+"=unavailable", "DISPLAY=", "WAYLAND_DISPLAY=")
}
