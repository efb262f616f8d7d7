package commands

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/testsecrets"
	"github.com/otactl/otactl/keys"
)

// These tests run the built binary as the adversarial campaign did: key
// material and passwords given through every flag, argument, environment
// variable and file that takes a key, a key reference or a password. No
// output may hold any of it. runOtactl checks every run's output against
// every registered secret (testsecrets), so each case below fails if a
// single byte sequence of a key or password shows; the cases also check
// that the message names the flag.

// noDBus is the environment of a CI runner: no session bus, so no keyring.
var noDBus = []string{"DBUS_SESSION_BUS_ADDRESS="}

// secretForms are the ways a key gets pasted where a reference belongs.
func secretForms(t *testing.T, pemFile string) map[string]string {
	t.Helper()
	p := mustRead(t, pemFile)
	k, err := keys.ParsePrivatePEM([]byte(p))
	if err != nil {
		t.Fatal(err)
	}
	seed := k.(ed25519.PrivateKey).Seed()
	lines := strings.Split(strings.TrimSpace(p), "\n")
	return map[string]string{
		"the PEM":                 p,
		"the PEM's body line":     lines[1], // what `sed -n 2p key.pem` gives
		"the PEM on one line":     strings.ReplaceAll(p, "\n", `\n`),
		"the PEM in base64":       base64.StdEncoding.EncodeToString([]byte(p)),
		"the seed in hex":         hex.EncodeToString(seed),
		"the seed in base64":      base64.StdEncoding.EncodeToString(seed),
		"the seed in base64url":   base64.RawURLEncoding.EncodeToString(seed),
		"the PEM without armour":  strings.Join(lines[1:len(lines)-1], ""),
		"the PEM's lines, spaced": strings.Join(lines, " "),
	}
}

// TestKeyMaterialInKeyFlagsIsNeverPrinted is point 1 of issue 9:
// `release create --sign "$(cat ed.pem)"` printed the whole PEM, and
// `--sign "$(sed -n 2p ed.pem)"` its body. Every flag and argument that
// takes a key or a key reference is given every form of a key, bare and
// as file: and env:.
func TestKeyMaterialInKeyFlagsIsNeverPrinted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := opensslKey(t, dir, "ed.pem", "-algorithm", "ed25519")
	writeRandom(t, filepath.Join(dir, "fw.bin"), 1000)
	if r := runOtactl(t, dir, nil, "", "release", "create", "-c", "main@1.0.0=fw.bin", "--sequence", "7", "--out", "r.json"); r.code != 0 {
		t.Fatalf("release create: exit %d\n%s", r.code, keys.Redact(r.stderr))
	}
	type usage struct {
		flag string // what the message must name
		args func(v string) []string
	}
	uses := []usage{
		{"--sign", func(v string) []string {
			return []string{"release", "create", "-c", "main@1.0.0=fw.bin", "--sign", v}
		}},
		{"--sign", func(v string) []string { return []string{"release", "sign", "r.json", "--sign", v} }},
		{"--pubkey", func(v string) []string { return []string{"release", "verify", "r.json", "--pubkey", v} }},
		{"--pubkey", func(v string) []string {
			return []string{"release", "publish", "r.json", "fw.bin", "--pubkey", v, "--broker", "mqtt://127.0.0.1:1", "--broker-timeout", "2s"}
		}},
		{"--sign", func(v string) []string {
			return []string{"release", "rollback", "--to", "7", "--sign", v, "--broker", "mqtt://127.0.0.1:1", "--broker-timeout", "2s"}
		}},
		{"export", func(v string) []string { return []string{"key", "export", v} }},
	}
	for form, secret := range secretForms(t, key) {
		for _, ref := range []string{secret, "file:" + secret, "env:" + secret} {
			for _, u := range uses {
				args := u.args(ref)
				r := runOtactl(t, dir, noDBus, "", args...)
				// runOtactl has already failed the test if the key shows.
				if r.code == 0 || !strings.Contains(r.stderr, u.flag) {
					t.Errorf("%s with %s: exit %d, stderr %q: want an error naming %s", runLabel(args), form, r.code, keys.Redact(r.stderr), u.flag)
				}
			}
		}
		// Arguments in the wrong place: the key as a key name, as the
		// file to import, as a manifest.
		for _, args := range [][]string{
			{"key", "import", "laptop", secret},
			{"key", "import", secret, "ed.pem"},
			{"key", "generate", secret},
			{"key", "delete", secret},
			{"release", "verify", secret},
			{"release", "show", secret},
			{"login", secret},
		} {
			if r := runOtactl(t, dir, noDBus, "", args...); r.code == 0 {
				t.Errorf("%s with %s as an argument: exit 0", runLabel(args), form)
			}
		}
	}
}

// TestBadKeyContentIsNeverPrinted gives keys whose content is wrong
// through files and environment variables: a damaged key, a key of an
// algorithm otactl does not sign with, a public key where a private one
// belongs. Errors name the file or variable, never the content.
func TestBadKeyContentIsNeverPrinted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := mustRead(t, opensslKey(t, dir, "good.pem", "-algorithm", "ed25519"))
	p384 := mustRead(t, opensslKey(t, dir, "p384.pem", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"))
	lines := strings.Split(good, "\n")
	damaged := lines[0] + "\n" + lines[1][:40] + lines[1][41:] + "\n" + lines[2] + "\n"
	testsecrets.RegisterPEM(t, "damaged key", []byte(damaged))
	testsecrets.Register(t, "damaged key body", lines[1][:40])
	if err := os.WriteFile(filepath.Join(dir, "damaged.pem"), []byte(damaged), 0o600); err != nil {
		t.Fatal(err)
	}
	writeRandom(t, filepath.Join(dir, "fw.bin"), 100)
	for _, tc := range []struct {
		name string
		env  []string
		sign string
		want string
	}{
		{"damaged file", nil, "file:damaged.pem", "--sign: signing key file damaged.pem:"},
		{"damaged env", []string{"OTACTL_SIGNING_KEY=" + damaged}, "env:", "--sign: signing key in environment variable OTACTL_SIGNING_KEY:"},
		{"damaged one-line env", []string{"CI_KEY=" + strings.ReplaceAll(damaged, "\n", `\n`)}, "env:CI_KEY", "environment variable CI_KEY"},
		{"P-384 file", nil, "file:p384.pem", "unsupported key algorithm ECDSA P-384"},
		{"P-384 env in base64", []string{"CI_KEY=" + base64.StdEncoding.EncodeToString([]byte(p384))}, "env:CI_KEY", "unsupported key algorithm ECDSA P-384"},
		{"password in the key variable", []string{"OTACTL_SIGNING_KEY=correct-horse-battery"}, "env:", "not a PEM private key"},
	} {
		if strings.Contains(tc.name, "password") {
			testsecrets.Register(t, "password in OTACTL_SIGNING_KEY", "correct-horse-battery")
		}
		r := runOtactl(t, dir, append(tc.env, noDBus...), "", "release", "create", "-c", "main@1.0.0=fw.bin", "--sign", tc.sign)
		if r.code != ExitError || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q", tc.name, r.code, keys.Redact(r.stderr), tc.want)
		}
	}
}

// TestPasswordsAreNeverPrinted gives broker passwords every way otactl
// takes them, right and wrong, against the embedded broker run by the
// binary (whose log is checked too) and mosquitto, and where they do not
// belong: in a broker URL, as an argument, in the config file.
func TestPasswordsAreNeverPrinted(t *testing.T) {
	t.Parallel()
	const opsPW, wrongPW = "ops-pw-never-printed-1", "wrong-pw-never-printed-2"
	testsecrets.Register(t, "operator password", opsPW)
	testsecrets.Register(t, "wrong password", wrongPW)
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	if r := runOtactl(t, dir, []string{"OTACTL_PASSWORD=" + opsPW}, "", "broker", "passwd", "--iterations", "1000", "--role", "operator", "--users", users, "ops"); r.code != 0 {
		t.Fatalf("broker passwd: exit %d %s", r.code, keys.Redact(r.stderr))
	}
	b := startBrokerProcess(t, "--users", users)
	m := mosquitto.Start(t, mosquitto.Config{Users: map[string]string{"ops": opsPW}})
	for _, url := range []string{b.URL, m.URL()} {
		base := []string{"release", "list", "--broker", url, "--username", "ops", "--broker-timeout", "10s"}
		for _, tc := range []struct {
			name  string
			env   []string
			stdin string
			extra []string
			code  int
		}{
			{"right password in OTACTL_PASSWORD", []string{"OTACTL_PASSWORD=" + opsPW}, "", nil, 0},
			{"right password on stdin", nil, opsPW + "\n", []string{"--password-stdin"}, 0},
			{"wrong password in OTACTL_PASSWORD", []string{"OTACTL_PASSWORD=" + wrongPW}, "", nil, ExitError},
			{"wrong password on stdin", nil, wrongPW + "\n", []string{"--password-stdin"}, ExitError},
		} {
			r := runOtactl(t, dir, tc.env, tc.stdin, append(base, tc.extra...)...)
			if r.code != tc.code {
				t.Errorf("%s, %s: exit %d, want %d\n%s", url, tc.name, r.code, tc.code, keys.Redact(r.stderr))
			}
		}
	}
	// Where a password does not belong, it is refused without an echo.
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"user:pass@ in --broker", nil, []string{"release", "list", "--broker", "mqtt://ops:" + opsPW + "@127.0.0.1:1883"}, "credentials in the URL are not accepted"},
		{"a password with '/' in --broker", nil, []string{"release", "list", "--broker", "mqtt://ops:" + opsPW + "/x@127.0.0.1"}, "credentials in the URL are not accepted"},
		{"a password with '#' in OTACTL_BROKER", []string{"OTACTL_BROKER=mqtt://ops:" + opsPW + "#@127.0.0.1"}, []string{"release", "list"}, "credentials in the URL are not accepted"},
		{"login with the password as an argument", nil, []string{"login", "--username", "ops", opsPW}, "unexpected argument"},
		{"config set password", nil, []string{"config", "set", "password", opsPW}, "the config file holds no secrets"},
		{"config set broker with credentials", nil, []string{"config", "set", "broker", "mqtt://ops:" + opsPW + "@h"}, "credentials"},
	} {
		r := runOtactl(t, dir, tc.env, "", tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want %q", tc.name, r.code, keys.Redact(r.stderr), tc.want)
		}
	}
	// A users file with a password written where the role belongs: the
	// broker refuses to start, and says which line without the password.
	bad := filepath.Join(dir, "bad-users.txt")
	line := mustRead(t, users)
	f := strings.Fields(line)
	if err := os.WriteFile(bad, []byte(f[0]+" "+f[1]+" "+opsPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runOtactl(t, dir, nil, "", "broker", "--listen", "127.0.0.1:0", "--users", bad); r.code != ExitError || !strings.Contains(r.stderr, "line 1") {
		t.Errorf("broker with a bad users file: exit %d %q", r.code, keys.Redact(r.stderr))
	}
	// The broker's own log, after failed and successful logins, holds no
	// password: testbroker.Process checks it when the test ends.
}

// TestConfigRefusesKeyMaterial: a key pasted into `config set` is refused
// and never stored in the config file nor echoed.
func TestConfigRefusesKeyMaterial(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := opensslKey(t, dir, "ed.pem", "-algorithm", "ed25519")
	home := t.TempDir()
	env := []string{"OTACTL_CONFIG=" + filepath.Join(home, "config.json")}
	for form, secret := range secretForms(t, key) {
		if strings.HasPrefix(secret, "-") {
			continue // taken for a flag: the flag parser refuses it
		}
		for _, setting := range []string{"pubkey", "username", "ca-file", "timeout"} {
			r := runOtactl(t, dir, env, "", "config", "set", setting, secret)
			if r.code == 0 || !strings.Contains(r.stderr, "looks like key material") {
				t.Errorf("config set %s with %s: exit %d %q", setting, form, r.code, keys.Redact(r.stderr))
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(home, "config.json")); err == nil {
		if leaked := testsecrets.Find(string(b)); len(leaked) > 0 {
			t.Errorf("the config file holds %v", leaked)
		}
	}
}

// TestPubkeyNoSuchFile is point 8: `--pubkey nofile.pub` said "OS keyring
// unavailable" instead of naming the missing file.
func TestPubkeyNoSuchFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "fw.bin"), 100)
	if r := runOtactl(t, dir, nil, "", "release", "create", "-c", "main@1.0.0=fw.bin", "--out", "r.json"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	for _, env := range [][]string{noDBus, nil} { // without and with a keyring
		for _, ref := range []string{"nofile.pub", "nofile.pem", "keys/release", "./nofile"} {
			r := runOtactl(t, dir, env, "", "release", "verify", "r.json", "--pubkey", ref)
			want := "--pubkey: no such file: " + ref + "\n"
			if r.code != ExitError || r.stderr != want {
				t.Errorf("--pubkey %s (env %q): exit %d, stderr %q; want exit 1 and %q", ref, env, r.code, keys.Redact(r.stderr), want)
			}
		}
	}
}
