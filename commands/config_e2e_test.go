package commands

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/internal/testpki"
	"github.com/otactl/otactl/publish"
)

// cfgEnv runs the built binary with a config file of its own
// (OTACTL_CONFIG in a temporary folder), shared by every run of the test.
type cfgEnv struct {
	t    *testing.T
	dir  string
	path string
	env  []string
}

func newCfgEnv(t *testing.T) *cfgEnv {
	dir := t.TempDir()
	path := filepath.Join(dir, "otactl", "config.json")
	return &cfgEnv{t: t, dir: dir, path: path, env: []string{"OTACTL_CONFIG=" + path}}
}

func (e *cfgEnv) run(env []string, args ...string) result {
	e.t.Helper()
	return runOtactl(e.t, e.dir, append(append([]string{}, e.env...), env...), "", args...)
}

func (e *cfgEnv) must(want int, env []string, args ...string) result {
	e.t.Helper()
	r := e.run(env, args...)
	if r.code != want {
		e.t.Fatalf("otactl %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

func (e *cfgEnv) file(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// prodProfile makes the profile of issue 9's report: a TLS broker that is
// not there, with a user, a client id, a CA file and insecure, plus a
// topic prefix and a timeout, and makes it current.
func (e *cfgEnv) prodProfile() {
	e.t.Helper()
	pki := testpki.New(e.t)
	for _, kv := range [][2]string{
		{"broker", "mqtts://127.0.0.1:1"}, {"username", "produser"}, {"client-id", "prod-ci"},
		{"ca-file", pki.CAFile}, {"insecure", "true"}, {"topic-prefix", "acme/"}, {"timeout", "20s"},
	} {
		e.must(0, nil, "config", "set", kv[0], kv[1], "--profile", "prod")
	}
	e.must(0, nil, "config", "use", "prod")
}

// TestBrokerFlagReplacesProfileConnection: after 'config use prod' (a
// profile with ca-file), --broker mqtt://... or OTACTL_BROKER reaches that
// broker with none of the profile's connection settings, while its topic
// prefix still applies; connection flags given alongside still apply.
func TestBrokerFlagReplacesProfileConnection(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		e := newCfgEnv(t)
		e.prodProfile()
		app := e.file("app.bin", "firmware")

		// The report's exact command line.
		e.must(0, nil, "release", "list", "--broker", b.URL)

		for _, via := range []struct {
			name       string
			env, flags []string
		}{
			{"flag", nil, []string{"--broker", b.URL}},
			{"env", []string{"OTACTL_BROKER=" + b.URL}, nil},
		} {
			args := append([]string{"upload", "main@1.0.0", app, "-o", "json"}, via.flags...)
			r := e.must(0, via.env, args...)
			var res publish.ArtifactResult
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Topic != "acme/.u/c/main@1.0.0" {
				t.Errorf("%s: upload through the profile's prefix: %q (%v)", via.name, r.stdout, err)
			}
			// An explicit connection flag still applies.
			args = append([]string{"release", "list", "--ca-file", filepath.Join(e.dir, "app.bin")}, via.flags...)
			r = e.run(via.env, args...)
			if r.code != ExitError || !strings.Contains(r.stderr, "TLS options given for mqtt://") {
				t.Errorf("%s with --ca-file: exit %d\n%s", via.name, r.code, r.stderr)
			}
		}
		c := pubDial(t, b.URL)
		if got, found := pubRetained(t, c, "acme/.u/c/main@1.0.0"); !found || string(got) != "firmware" {
			t.Errorf("the broker does not retain acme/.u/c/main@1.0.0: %q", got)
		}
		// Without --broker the profile's connection is used, whole.
		r := e.run(nil, "release", "list")
		if r.code != ExitError || !strings.Contains(r.stderr, "127.0.0.1:1") {
			t.Errorf("the profile's own broker: exit %d\n%s", r.code, r.stderr)
		}
	})
}

// TestBrokerFlagDropsProfileUser: with another broker the profile's user
// name is not sent; --username given alongside is.
func TestBrokerFlagDropsProfileUser(t *testing.T) {
	t.Parallel()
	m := mosquitto.Start(t, mosquitto.Config{Users: map[string]string{"ci": "s3cret"}})
	e := newCfgEnv(t)
	e.prodProfile()
	pw := []string{"OTACTL_PASSWORD=s3cret"}
	r := e.run(pw, "release", "list", "--broker", m.URL())
	if r.code != ExitError || !strings.Contains(r.stderr, "a password was given but no user name") {
		t.Errorf("--broker without --username: exit %d, want the profile's user name dropped\n%s", r.code, r.stderr)
	}
	e.must(0, pw, "release", "list", "--broker", m.URL(), "--username", "ci")
	e.must(0, append(pw, "OTACTL_USERNAME=ci", "OTACTL_BROKER="+m.URL()), "release", "list")
}

// TestDefaultProfileAlwaysExists: 'config use default', OTACTL_PROFILE=default
// and --profile default work without such a profile in the file, or
// without a file, and mean no profile settings.
func TestDefaultProfileAlwaysExists(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		e := newCfgEnv(t)
		app := e.file("app.bin", "firmware")
		// No config file at all.
		e.must(0, []string{"OTACTL_PROFILE=default"}, "release", "list", "--broker", b.URL)
		e.must(0, nil, "release", "list", "--broker", b.URL, "--profile", "default")
		e.must(0, nil, "config", "use", "default")

		e.prodProfile()
		e.must(0, nil, "config", "use", "default")
		r := e.must(0, []string{"OTACTL_BROKER=" + b.URL}, "upload", "main@1.0.0", app, "-o", "json")
		if !strings.Contains(r.stdout, `"topic":".u/c/main@1.0.0"`) {
			t.Errorf("config use default kept the prod prefix: %s", r.stdout)
		}
		if r := e.must(0, nil, "config", "list"); !strings.Contains(r.stdout, "*\tdefault\t") {
			t.Errorf("config list does not mark default:\n%s", r.stdout)
		}
		e.must(0, nil, "config", "use", "prod")
		r = e.must(0, []string{"OTACTL_PROFILE=default", "OTACTL_BROKER=" + b.URL}, "upload", "main@1.0.0", app, "-o", "json")
		if !strings.Contains(r.stdout, `"topic":".u/c/main@1.0.0"`) {
			t.Errorf("OTACTL_PROFILE=default kept the prod prefix: %s", r.stdout)
		}
		// Another missing profile is still an error: named by --profile, a
		// usage error.
		if r := e.run(nil, "release", "list", "--broker", b.URL, "--profile", "nope"); r.code != ExitUsage || !strings.Contains(r.stderr, `profile "nope" does not exist`) {
			t.Errorf("--profile nope: exit %d\n%s", r.code, r.stderr)
		}
	})
}

// TestConnectionValuesChecked: values that used to be taken unchecked.
func TestConnectionValuesChecked(t *testing.T) {
	t.Parallel()
	e := newCfgEnv(t)
	// --broker "" is not localhost.
	r := e.run(nil, "release", "list", "--broker", "")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--broker is empty") || strings.Contains(r.stderr, "localhost") && !strings.Contains(r.stderr, "hint:") {
		t.Errorf(`--broker "": exit %d\n%s`, r.code, r.stderr)
	}
	if r := e.run(nil, "release", "list", "--broker", "ftp://x"); r.code != ExitUsage || !strings.Contains(r.stderr, "mqtt://, mqtts://, ws:// or wss://") {
		t.Errorf("--broker ftp://x: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.run([]string{"OTACTL_BROKER=ftp://x"}, "release", "list"); r.code != ExitError || !strings.Contains(r.stderr, "OTACTL_BROKER: ") {
		t.Errorf("OTACTL_BROKER=ftp://x: exit %d\n%s", r.code, r.stderr)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"broker", "ftp://x"}, `unknown scheme "ftp": use mqtt://, mqtts://, ws:// or wss://`},
		{[]string{"--profile", "p", "--", "timeout", "-5s"}, `timeout "-5s": want a positive duration`},
		{[]string{"timeout", "0s"}, `timeout "0s": want a positive duration`},
		{[]string{"ca-file", "nofile.pem"}, `ca-file "nofile.pem": no such file`},
		{[]string{"pubkey", "nofile.pub"}, `pubkey "nofile.pub": no such file`},
		{[]string{"username", ""}, "username \"\": empty"},
		{[]string{"client-id", "a/b"}, `client id "a/b"`},
		{[]string{"topic-prefix", "a/#/"}, "topic prefix"},
		{[]string{"max-payload", "0"}, "positive size"},
	} {
		args := append([]string{"config", "set"}, tt.args...)
		if args[2] != "--profile" {
			args = append(args, "--profile", "p")
		}
		r := e.run(nil, args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("config set %q: exit %d, want 2 and %q\n%s", tt.args, r.code, tt.want, r.stderr)
		}
	}
	if _, err := os.Stat(e.path); err == nil {
		t.Errorf("refused settings wrote the config file")
	}
}

// TestConfigFileValuesChecked: a bad value found in the config file stops
// every command before any traffic, naming the profile, the key and the
// file, with exit 1.
func TestConfigFileValuesChecked(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ profile, key string }{
		{`{"timeout": "-5s"}`, "timeout"},
		{`{"timeout": "soon"}`, "timeout"},
		{`{"broker": "ftp://x"}`, "broker"},
		{`{"client-id": "a+b"}`, "client-id"},
		{`{"topic-prefix": "a/+/"}`, "topic-prefix"},
		{`{"max-payload": -1}`, "max-payload"},
		{`{"threshold": -1}`, "threshold"},
		{`{"username": "a\nb"}`, "username"},
		{`{"pubkey": ["relative/key.pem"]}`, "pubkey"},
	} {
		e := newCfgEnv(t)
		if err := os.MkdirAll(filepath.Dir(e.path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.path, []byte(`{"current": "prod", "profiles": {"prod": `+tt.profile+`}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"release", "list", "--broker", "mqtt://127.0.0.1:1"}, {"upload", "main@1.0.0", "app.bin"}} {
			r := e.run(nil, args...)
			if r.code != ExitError || !strings.Contains(r.stderr, `profile "prod" in `+e.path+": ") ||
				!strings.Contains(r.stderr, tt.key) || !strings.Contains(r.stderr, "otactl config set "+tt.key) ||
				strings.Contains(r.stderr, "connect") {
				t.Errorf("profile %s, otactl %s: exit %d, want 1 naming the profile, %s and the file\n%s", tt.profile, strings.Join(args, " "), r.code, tt.key, r.stderr)
			}
		}
	}
	// A current profile that is not in the file is not silently empty.
	e := newCfgEnv(t)
	e.must(0, nil, "config", "set", "broker", "mqtt://127.0.0.1:1", "--profile", "lab")
	data, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.path, []byte(strings.Replace(string(data), "{", `{"current": "gone",`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := e.run(nil, "release", "list"); r.code != ExitError || !strings.Contains(r.stderr, `profile "gone", the current one in `+e.path+", does not exist") {
		t.Errorf("dangling current: exit %d\n%s", r.code, r.stderr)
	}
}
