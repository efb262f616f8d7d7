package commands

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/keys"
)

// treeNode is one command of the app's tree with its full path.
type treeNode struct {
	path string // "otactl release create"
	cmd  *cli.Command
}

// commandTree walks the app's command tree: every command, groups and
// leaves, hidden ones included.
func commandTree(t *testing.T) (*cli.App, []treeNode) {
	t.Helper()
	app := newApp(DefaultSystem())
	var nodes []treeNode
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			n := treeNode{path: prefix + " " + c.Name, cmd: c}
			nodes = append(nodes, n)
			walk(n.path, c.Subcommands)
		}
	}
	walk(app.Name, app.Commands)
	if len(nodes) < 20 {
		t.Fatalf("the command tree has only %d commands", len(nodes))
	}
	return app, nodes
}

// typo swaps the first two different neighbouring letters after the first:
// "wait" gives "wiat", "sign" gives "sgin".
func typo(name string) string {
	b := []byte(name)
	for i := 1; i+1 < len(b); i++ {
		if b[i] != b[i+1] {
			b[i], b[i+1] = b[i+1], b[i]
			return string(b)
		}
	}
	return name + "x"
}

// args is the command words of a path without "otactl".
func pathArgs(path string) []string { return strings.Fields(path)[1:] }

func visibleNames(cmds []*cli.Command) []string {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	return names
}

// TestUnknownSubcommandEveryGroup runs, for the root and for every group
// of the tree, a typo of each of its subcommands and a word close to none:
// exit 2, "unknown command ... for <path>", a suggestion only when close,
// and nothing on stdout.
func TestUnknownSubcommandEveryGroup(t *testing.T) {
	t.Parallel()
	app, nodes := commandTree(t)
	groups := []treeNode{{path: app.Name, cmd: &cli.Command{Subcommands: app.Commands}}}
	for _, n := range nodes {
		if len(n.cmd.Subcommands) > 0 {
			groups = append(groups, n)
		}
	}
	if len(groups) < 6 {
		t.Fatalf("only %d groups found", len(groups))
	}
	for _, g := range groups {
		names := visibleNames(g.cmd.Subcommands)
		for _, sub := range g.cmd.Subcommands {
			if sub.Hidden {
				continue
			}
			word := typo(sub.Name)
			if slices.Contains(names, word) {
				continue
			}
			// Extra words after the typo, as in "rollout wiat --version 9.9.9".
			args := append(pathArgs(g.path), word, "--version", "9.9.9", "release.json")
			r := runOtactl(t, "", nil, "", args...)
			want := `unknown command "` + word + `" for "` + g.path + `"`
			if r.code != ExitUsage || !strings.Contains(r.stderr, want) ||
				!strings.Contains(r.stderr, `hint: did you mean "`+sub.Name+`"?`) || r.stdout != "" {
				t.Errorf("otactl %s: exit %d\nstdout: %q\nstderr: %s\nwant exit 2, %s and a hint for %q",
					strings.Join(args, " "), r.code, r.stdout, r.stderr, want, sub.Name)
			}
		}
		args := append(pathArgs(g.path), "zzqqxxv")
		r := runOtactl(t, "", nil, "", args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, `unknown command "zzqqxxv" for "`+g.path+`"`) ||
			strings.Contains(r.stderr, "did you mean") || !strings.Contains(r.stderr, "hint: run '"+g.path+" --help'") {
			t.Errorf("otactl %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// TestUnknownFlagEveryCommand runs, for every command of the tree, a typo of
// one of its flags and a flag close to none: exit 2, "unknown flag", the
// nearest flag, and the command's full path in the hint.
func TestUnknownFlagEveryCommand(t *testing.T) {
	t.Parallel()
	_, nodes := commandTree(t)
	tried := 0
	for _, n := range nodes {
		if n.cmd.SkipFlagParsing {
			continue
		}
		var names []string
		for _, f := range n.cmd.Flags {
			names = append(names, f.Names()...)
		}
		help := "hint: run '" + n.path + " --help'"
		for _, f := range n.cmd.Flags {
			name := f.Names()[0]
			word := typo(name)
			if len(name) < 4 || slices.Contains(names, word) {
				continue
			}
			args := append(pathArgs(n.path), "--"+word, "x")
			r := runOtactl(t, "", nil, "", args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, "unknown flag: --"+word+"\n") ||
				!strings.Contains(r.stderr, "hint: did you mean --"+name+"?") || !strings.Contains(r.stderr, help) {
				t.Errorf("otactl %s: exit %d\n%s\nwant exit 2, unknown flag, --%s suggested and %q",
					strings.Join(args, " "), r.code, r.stderr, name, help)
			}
			tried++
			break
		}
		args := append(pathArgs(n.path), "--zzqqxxv")
		r := runOtactl(t, "", nil, "", args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "unknown flag: --zzqqxxv") ||
			strings.Contains(r.stderr, "did you mean") || !strings.Contains(r.stderr, help) {
			t.Errorf("otactl %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if tried < 20 {
		t.Errorf("only %d commands had a flag to mistype", tried)
	}
}

// TestUsageRepros are the exact command lines of issue 9 that exited 0.
func TestUsageRepros(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args       []string
		want, hint string
	}{
		{[]string{"rollout", "wiat", "--version", "9.9.9"}, `unknown command "wiat" for "otactl rollout"`, `hint: did you mean "wait"?`},
		{[]string{"release", "pubish", "release.json", "--percent", "10"}, `unknown command "pubish" for "otactl release"`, `hint: did you mean "publish"?`},
		{[]string{"key", "gen"}, `unknown command "gen" for "otactl key"`, `hint: did you mean "generate"?`},
		{[]string{"config", "lsit"}, `unknown command "lsit" for "otactl config"`, `hint: did you mean "list"?`},
		{[]string{"artifact", "lsit"}, `unknown command "lsit" for "otactl artifact"`, `hint: did you mean "list"?`},
		{[]string{"rolout", "wait"}, `unknown command "rolout" for "otactl"`, `hint: did you mean "rollout"?`},
		{[]string{"help", "rolout"}, `unknown command "rolout" for "otactl"`, `hint: did you mean "rollout"?`},
		{[]string{"rollout", "help", "wiat"}, `unknown command "wiat" for "otactl rollout"`, `hint: did you mean "wait"?`},
		{[]string{"broker", "pswd"}, `unknown command "pswd" for "otactl broker"`, `hint: did you mean "passwd"?`},
		{[]string{"release", "create", "--sgin", "k", "-c", "main@1.0.0=fw.bin"}, "unknown flag: --sgin", "hint: did you mean --sign?\nhint: run 'otactl release create --help'"},
		{[]string{"release", "create", "--sequence", "soon", "-c", "main@1.0.0=fw.bin"}, `release create: --sequence: invalid value "soon"`, "hint: run 'otactl release create --help'"},
		{[]string{"release", "create", "-c", "main@1.0.0=fw.bin", "--sequence"}, "release create: --sequence needs a value", "hint: run 'otactl release create --help'"},
		{[]string{"release", "rollback"}, `required flag "to" not set`, "hint: see 'otactl release rollback --help'"},
		{[]string{"--nope"}, "unknown flag: --nope", "hint: run 'otactl --help'"},
		{[]string{"config", "set", "timeout", "-5s"}, "unknown flag: --5s", "hint: a value that starts with '-' is not a flag when '--' comes before the arguments"},
	} {
		r := runOtactl(t, t.TempDir(), nil, "", tt.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, tt.hint) {
			t.Errorf("otactl %s: exit %d\n%s\nwant exit 2, %q and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want, tt.hint)
		}
	}
}

// TestCommandRefusals: command lines of broker, simulate, key rotate and
// release publish that otactl, run in-process with a configuration folder
// of its own, refuses with the exit code and a part of the message given.
func TestCommandRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"broker", "--listen", "0.0.0.0:0"}, ExitError, "hint: give --users FILE"},
		{[]string{"broker", "--tls-cert", "x.pem"}, ExitUsage, "both --tls-cert and --tls-key"},
		{[]string{"broker", "--max-packet", "12"}, ExitUsage, "--max-packet"},
		{[]string{"broker", "--users", "/nonexistent/users"}, ExitError, "users file"},
		{[]string{"broker", "extra"}, ExitUsage, `unknown command "extra" for "otactl broker"`},
		{[]string{"broker", "passwd"}, ExitUsage, "want one NAME"},
		{[]string{"broker", "passwd", "--role", "admin", "x"}, ExitUsage, "use device or operator"},
		{[]string{"broker", "passwd", "a/b"}, ExitUsage, "device id"},
		{[]string{"broker", "passwd", "--role", "operator", "--cohort", "c", "ops"}, ExitUsage, "--cohort is for devices"},
		{[]string{"broker", "passwd", "sim-1"}, ExitError, "no password given"},
		{[]string{"simulate", "--devices", "0"}, ExitUsage, "--devices 0"},
		{[]string{"simulate", "--fail", "disk=5%"}, ExitUsage, "failure kind"},
		{[]string{"simulate", "--fail", "integrity=150%"}, ExitUsage, "between 0% and 100%"},
		{[]string{"simulate", "--speed", "fast"}, ExitUsage, "--speed"},
		{[]string{"simulate", "--report-encoding", "xml"}, ExitUsage, "--report-encoding"},
		{[]string{"simulate", "--report-keys", "medium"}, ExitUsage, "--report-keys"},
		{[]string{"simulate", "--client-id", "x"}, ExitUsage, "client id is its device id"},
		{[]string{"simulate", "--threshold", "2", "--pubkey", "/nonexistent.pem"}, ExitUsage, "--threshold 2"},
		{[]string{"simulate", "--id-prefix", "a/b"}, ExitUsage, "--id-prefix"},
		{[]string{"simulate", "--shard", "3/2"}, ExitUsage, "--shard"},
		{[]string{"simulate", "--devices", "2", "--shard", "1/3"}, ExitUsage, "shard 1/3 of 2 devices has none"},
		{[]string{"simulate", "--ramp", "0/s"}, ExitUsage, "--ramp"},
		{[]string{"simulate", "--connect", "mqtt://a:1883", "--broker", "mqtt://b:1883"}, ExitUsage, "--connect and --broker"},
		{[]string{"simulate", "--connect", "gopher://a"}, ExitUsage, "gopher"},
		{[]string{"simulate", "--version", "1 0"}, ExitUsage, "version"},
		{[]string{"simulate", "--broker", "mqtt://127.0.0.1:1", "--timeout", "2s"}, ExitError, "simulated device sim-0001"},
		{[]string{"simulate", "extra"}, ExitUsage, `unknown command "extra" for "otactl simulate"`},
		{[]string{"simulate", "summary", "/nonexistent.jsonl"}, ExitError, "/nonexistent.jsonl"},
		{[]string{"simulate", "--root-threshold", "2", "--root-pubkey", "/nonexistent.pem"}, ExitUsage, "--root-threshold 2"},
		{[]string{"simulate", "--root-pubkey", "/nonexistent.pem"}, ExitError, "--root-pubkey: no such file"},
		{[]string{"key", "rotate", "--release-key", "r.pem"}, ExitUsage, `required flag "root-key" not set`},
		{[]string{"key", "rotate", "--root-key", "file:r.pem", "--release-key", "r.pem", "--threshold", "0"}, ExitUsage, "--threshold and --root-threshold must be at least 1"},
		{[]string{"key", "rotate", "--root-key", "file:/nonexistent.pem", "--release-key", "r.pem"}, ExitError, "--root-key: no such file"},
		{[]string{"key", "rotate", "extra", "--root-key", "file:r.pem", "--release-key", "r.pem"}, ExitUsage, "unexpected argument"},
		{[]string{"release", "publish", "--root-pubkey", "/nonexistent.pem", "/nonexistent.json"}, ExitError, "manifest"},
	} {
		sys, _, errOut := fleetSystem(t, "", map[string]string{"XDG_CONFIG_HOME": t.TempDir()})
		code := runMain(context.Background(), append([]string{"otactl"}, tc.args...), sys)
		if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("otactl %v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
}

// TestGroupWithoutSubcommand: a bare group shows its help on stdout and
// exits 0, as gh does; so does the bare program.
func TestGroupWithoutSubcommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"key"}, {"rollout"}, {"config"}, {}} {
		r := runOtactl(t, "", nil, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "COMMANDS:") || r.stderr != "" {
			t.Errorf("otactl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if r := runOtactl(t, "", nil, "", "release", "help", "create"); r.code != 0 || !strings.Contains(r.stdout, "otactl release create") {
		t.Errorf("release help create: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestUsageErrorsHideKeyMaterial: a key pasted where a command or flag
// belongs is refused without being repeated.
func TestUsageErrorsHideKeyMaterial(t *testing.T) {
	t.Parallel()
	k, err := keys.GenerateKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := keys.MarshalPrivatePEM(k)
	if err != nil {
		t.Fatal(err)
	}
	pem := string(pemBytes)
	body := strings.Split(pem, "\n")[1]
	for _, args := range [][]string{
		{"rollout", body},
		{body},
		{"release", "create", pem},
		{"release", "create", "--" + body},
		{"release", "create", "--sequence", body},
		{"release", "create", "--sequence=" + pem},
		{"config", "help", body},
		{"release", "list", "--broker", body},
		{"release", "list", "--broker", "mqtt://" + body},
		{"release", "list", "--broker", pem},
		{"release", "list", "--client-id", pem},
		{"release", "list", "--client-id", body},
		{"release", "list", "--topic-prefix", body},
		{"release", "list", "--username", pem},
		{"release", "list", "--ca-file", pem},
		{"config", "set", "broker", "mqtt://" + body},
		{"config", "set", "username", pem},
		{"config", "set", "pubkey", pem},
		{"config", "set", "client-id", body},
	} {
		r := runOtactl(t, "", nil, "", args...)
		if r.code != ExitUsage {
			t.Errorf("args with key material (%s): exit %d, want 2\n%s", runLabel(args), r.code, r.stderr)
		}
		for _, line := range strings.Split(pem, "\n") {
			if len(line) > 8 && !strings.HasPrefix(line, "-----") && (strings.Contains(r.stderr, line) || strings.Contains(r.stdout, line)) {
				t.Errorf("key material repeated in the output of a usage error:\n%s", r.stderr)
			}
		}
		if strings.Contains(r.stderr, body[:16]) {
			t.Errorf("part of the key repeated:\n%s", r.stderr)
		}
	}
}

// TestBadValuesAreUsageErrors: a value given on the command line (a flag's,
// an argument's, the profile named by --profile) that otactl cannot use is
// a usage error, exit 2, refused before any network traffic; the same
// value from the environment is an input error, exit 1.
func TestBadValuesAreUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := dir + "/app.bin"
	if err := os.WriteFile(file, []byte("firmware"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreachable := []string{"--broker", "mqtt://127.0.0.1:1", "--broker-timeout", "2s"}
	// A key file that is not there, by a path that reads as words: under
	// t.TempDir() (this test's long CamelCase name and a random number)
	// the path itself can look like key material, which is refused, exit
	// 2, whichever the random number (it failed a CI run so).
	missingKey := "no-such-folder/none.pem"
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"release", "create", "-c", "main@1.0=" + file, "--expires", "5x"}, nil, ExitUsage, `expiry "5x"`},
		{[]string{"release", "create", "-c", "main@1.0=" + file, "--expires", "2020-01-01T00:00:00Z"}, nil, ExitUsage, "is not after the creation time"},
		{[]string{"release", "create", "-c", "main@1.0=" + file, "--type", "a b"}, nil, ExitUsage, `invalid type "a b"`},
		{[]string{"release", "create", "-c", "main@1.0=" + file, "--type", "-"}, nil, ExitUsage, `invalid type "-"`},
		{[]string{"release", "create", "-c", "main@1.0=" + dir + "/none.bin"}, nil, ExitError, "none.bin"},
		{append([]string{"release", "list", "--profile", "nosuch"}, unreachable...), nil, ExitUsage, `profile "nosuch" does not exist`},
		{append([]string{"release", "list"}, unreachable...), map[string]string{"OTACTL_PROFILE": "nosuch"}, ExitError, `profile "nosuch" does not exist`},
		{[]string{"config", "get", "--profile", "nosuch"}, nil, ExitUsage, `profile "nosuch" does not exist`},
		{[]string{"config", "unset", "broker", "--profile", "nosuch"}, nil, ExitUsage, `profile "nosuch" does not exist`},
		{append([]string{"upload", "main@", file}, unreachable...), nil, ExitUsage, `upload: "main@": version name is empty`},
		{append([]string{"upload", "@1.0", file}, unreachable...), nil, ExitUsage, `upload: "@1.0": package name is empty`},
		{append([]string{"upload", "main@1.0+x", file}, unreachable...), nil, ExitUsage, `invalid version "1.0+x"`},
		{append([]string{"upload", "main", file}, unreachable...), nil, ExitUsage, "expected PACKAGE@VERSION"},
		{append([]string{"artifact", "delete", "main@"}, unreachable...), nil, ExitUsage, `artifact delete: "main@": version name is empty`},
		{append([]string{"artifact", "download", "a b@1", "-O", dir + "/out"}, unreachable...), nil, ExitUsage, `invalid package "a b"`},
		{[]string{"release", "create", "-c", "main@1.0=" + file, "--sign", "bogus:x"}, nil, ExitUsage, `--sign: unsupported key reference scheme "bogus:"`},
		{[]string{"release", "create", "-c", "main@1.0=" + file, "--sign", "a b"}, nil, ExitUsage, "--sign: key name"},
		{[]string{"release", "create", "-c", "main@1.0=" + file, "--sign", "env:a b"}, nil, ExitUsage, "is not an environment variable name"},
		{[]string{"release", "create", "-c", "main@1.0=" + file, "--sign", "file:"}, nil, ExitUsage, "needs a path"},
		{[]string{"release", "create", "-c", "main@1.0=" + file, "--sign", "file:" + missingKey}, nil, ExitError, "--sign: no such file"},
		{[]string{"release", "create", "-c", "main@1.0=" + file, "--sign", "env:NO_SUCH_KEY"}, nil, ExitError, "NO_SUCH_KEY is not set"},
		{[]string{"key", "export", "bogus:x"}, nil, ExitUsage, `key export: unsupported key reference scheme "bogus:"`},
		{[]string{"key", "export", missingKey}, nil, ExitError, "key export: no such file"},
		{[]string{"simulate", "--pubkey", "bogus:x"}, nil, ExitUsage, `--pubkey: unsupported key reference scheme "bogus:"`},
		{[]string{"simulate", "--root-pubkey", "pkcs11:junk"}, nil, ExitUsage, "--root-pubkey: pkcs11"},
		{[]string{"broker", "--listen", "nonsense"}, nil, ExitUsage, `broker: --listen: address "nonsense" is not HOST:PORT`},
		{[]string{"broker", "--listen", ""}, nil, ExitUsage, "broker: --listen: the address is empty"},
		{[]string{"broker", "--listen", "127.0.0.1:99999"}, nil, ExitUsage, "the port is not a number from 0 to 65535"},
		{[]string{"broker", "--listen", "127.0.0.1:0", "--ws", "x"}, nil, ExitUsage, `broker: --ws: address "x"`},
		{[]string{"broker", "--listen", "127.0.0.1:0", "--topic-prefix", "a+"}, nil, ExitUsage, "broker: --topic-prefix"},
	} {
		env := map[string]string{"XDG_CONFIG_HOME": t.TempDir()}
		for k, v := range tc.env {
			env[k] = v
		}
		sys, _, errOut := fleetSystem(t, "", env)
		// A broker that starts after all runs until the deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		code := runMain(ctx, append([]string{"otactl"}, tc.args...), sys)
		cancel()
		if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("otactl %q (env %v): exit %d, stderr %q; want exit %d and %q", tc.args, tc.env, code, errOut.String(), tc.code, tc.want)
		}
	}
}
