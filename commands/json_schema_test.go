package commands

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/output"
)

// jsonCommands lists the commands that take -o json ("release verify"),
// walking the command tree.
func jsonCommands() []string {
	var paths []string
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			path := strings.TrimSpace(prefix + " " + c.Name)
			for _, f := range c.Flags {
				if slices.Contains(f.Names(), "output") {
					paths = append(paths, path)
					break
				}
			}
			walk(path, c.Subcommands)
		}
	}
	walk("", newApp(&System{Getenv: func(string) string { return "" }}).Commands)
	return paths
}

// TestEveryJSONCommandHasASchema: a command that takes -o json prints
// documents of a schema of docs/json.md, and each schema's commands
// exist.
func TestEveryJSONCommandHasASchema(t *testing.T) {
	cmds := jsonCommands()
	if len(cmds) < 20 {
		t.Fatalf("only %d commands take -o json: %v", len(cmds), cmds)
	}
	for _, c := range cmds {
		if len(output.ForCommand(c)) == 0 {
			t.Errorf("otactl %s takes -o json but no schema in output/schemas.go (docs/json.md) names it", c)
		}
	}
	for _, s := range output.Schemas {
		for _, c := range s.Commands {
			if !slices.Contains(cmds, c) {
				t.Errorf("schema %s: otactl %s does not take -o json", s.Name, c)
			}
		}
	}
}

// jsonRuns checks the documents commands print against their schemas,
// and keeps which commands it saw.
type jsonRuns struct {
	t    *testing.T
	seen map[string]int // documents per command
}

// check checks that out is one document per line (at least one), each
// of a schema of command's, that the schema's checks pass, and that a
// command that is not a stream printed one document.
func (j *jsonRuns) check(command, out string) {
	j.t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		j.t.Errorf("otactl %s -o json printed nothing", command)
		return
	}
	for _, line := range lines {
		s, err := output.Check([]byte(line))
		if err != nil {
			j.t.Errorf("otactl %s -o json: %v\n%s", command, err, line)
			continue
		}
		if !slices.Contains(s.Commands, command) {
			j.t.Errorf("otactl %s -o json printed a document of schema %s, which is not one of its", command, s.ID())
		}
		if !s.Stream && len(lines) > 1 {
			j.t.Errorf("otactl %s -o json printed %d lines, want one document", command, len(lines))
		}
	}
	j.seen[command] += len(lines)
}

// run runs the built binary with args (ending in -o json), wants exit
// code want, and checks its standard output.
func (j *jsonRuns) run(dir string, env []string, want int, command string, args ...string) string {
	j.t.Helper()
	res := runOtactl(j.t, dir, env, "", args...)
	if res.code != want {
		j.t.Fatalf("otactl %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, want, res.stdout, res.stderr)
	}
	j.check(command, res.stdout)
	return res.stdout
}

// TestJSONOutputFollowsTheSchemas runs every command that takes -o json
// against an otactl broker, as a user would, and checks each document it
// prints against its schema: a key the schema lacks, a required key
// missing, a value of another kind or a time not in UTC to the second
// fails. A command not run here fails the test too.
func TestJSONOutputFollowsTheSchemas(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j := &jsonRuns{t: t, seen: map[string]int{}}

	brk := startOtactlIn(t, dir, nil, nil, "broker", "--listen", "127.0.0.1:0", "-o", "json")
	waitFor(t, "the broker's URL", func() bool { return strings.Contains(brk.stdout.String(), "\n") })
	var info struct{ URL string }
	brokerDoc := brk.stdout.String()
	if err := json.Unmarshal([]byte(brokerDoc), &info); err != nil || info.URL == "" {
		t.Fatalf("broker -o json: %v: %s", err, brokerDoc)
	}
	j.check("broker", brokerDoc)
	env := []string{"OTACTL_BROKER=" + info.URL, "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "HOME=" + dir}
	run := func(want int, command string, args ...string) string {
		t.Helper()
		return j.run(dir, env, want, command, append(args, "-o", "json")...)
	}
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"0.9.0", "1.0.0", "1.1.0", "1.2.0"} {
		write("app-"+v+".bin", strings.Repeat("firmware "+v+"\n", 100))
	}

	run(0, "version", "version")
	run(0, "doctor", "doctor", "--need", "64k")
	run(0, "key generate", "key", "generate", "--out", "k.pem")
	run(0, "key generate", "key", "generate", "--out", "root.pem")
	write("k.pub", runOtactl(t, dir, env, "", "key", "export", "file:k.pem").stdout)
	write("root.pub", runOtactl(t, dir, env, "", "key", "export", "file:root.pem").stdout)
	runOtactl(t, dir, env, "", "config", "set", "max-payload", "16M", "--profile", "p")
	if out := run(0, "config get", "config", "get", "--profile", "p"); !strings.Contains(out, `"maxPayload":16777216`) {
		t.Errorf("config get: settings not in camelCase: %s", out)
	}
	run(0, "config get", "config", "get", "max-payload", "--profile", "p")
	if out := run(0, "config list", "config", "list"); strings.Contains(out, "max-payload") {
		t.Errorf("config list: a kebab-case key: %s", out)
	}

	for i, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		run(0, "release create", "release", "create", "-c", "main@"+v+"=app-"+v+".bin", "--sequence", strconv.Itoa(100*(i+1)),
			"--sign", "file:k.pem", "--out", "r-"+v+".json")
	}
	run(0, "release create", "release", "create", "-c", "main@1.0.0=app-1.0.0.bin") // to standard output
	run(0, "release show", "release", "show", "r-1.0.0.json")
	run(0, "release digest", "release", "digest", "r-1.0.0.json")
	run(0, "release verify", "release", "verify", "r-1.0.0.json", "--pubkey", "k.pub", "main=app-1.0.0.bin")
	run(3, "release verify", "release", "verify", "r-1.0.0.json", "--pubkey", "root.pub")
	run(0, "upload", "upload", "main@0.9.0", "app-0.9.0.bin")
	run(0, "artifact list", "artifact", "list")
	run(0, "artifact delete", "artifact", "delete", "main@0.9.0", "--yes")

	sim := startOtactlIn(t, dir, env, nil, "simulate", "--devices", "3", "--cohort", "a", "--version", "0.9.0", "--for", "90s", "-o", "json")
	waitFor(t, "the simulated devices", func() bool { return strings.Count(sim.stdout.String(), `"kind":"connected"`) >= 3 })
	run(0, "release publish", "release", "publish", "r-1.0.0.json", "app-1.0.0.bin", "--cohort", "a", "--cohort", "b", "--wait", "--wait-timeout", "60s")
	run(0, "release publish", "release", "publish", "r-1.0.0.json", "app-1.0.0.bin", "--device", "ghost")
	run(0, "release list", "release", "list")
	run(0, "release current", "release", "current", "--cohort", "a", "--pubkey", "k.pub")
	run(0, "rollout wait", "rollout", "wait", "--cohort", "a", "--cohort", "b", "--version", "1.0.0", "--timeout", "60s")
	run(0, "release unpublish", "release", "unpublish", "--cohort", "b")
	run(0, "release current", "release", "current", "--cohort", "b")
	run(0, "rollout status", "rollout", "status", "--cohort", "a", "--cohort", "b")
	run(0, "watch", "watch", "--once", "--cohort", "a")
	// A rollout that runs out of time while it bakes, then resumed to
	// its end; another, aborted.
	run(5, "rollout start", "rollout", "start", "r-1.1.0.json", "app-1.1.0.bin", "--steps", "cohort:a", "--bake", "4s", "--timeout", "2s", "--sign", "file:k.pem")
	run(0, "rollout resume", "rollout", "resume", "--timeout", "60s")
	run(0, "rollout status", "rollout", "status")
	run(5, "rollout start", "rollout", "start", "r-1.2.0.json", "app-1.2.0.bin", "--steps", "cohort:a", "--bake", "60s", "--timeout", "2s", "--sign", "file:k.pem")
	run(0, "rollout abort", "rollout", "abort")
	run(0, "release rollback", "release", "rollback", "--to", "100", "--cohort", "a", "--sign", "file:k.pem")
	run(0, "key rotate", "key", "rotate", "--bootstrap", "--root-key", "file:root.pem", "--release-key", "k.pub")
	run(0, "demo", "demo", "--devices", "3")

	if err := sim.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	sim.waitWithin(t, time.Minute)
	j.check("simulate", sim.stdout.String())
	if err := os.WriteFile(filepath.Join(dir, "sim.jsonl"), []byte(sim.stdout.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run(0, "simulate summary", "simulate", "summary", "sim.jsonl")

	// key list reads the OS keyring: in-process, with a fake one.
	e := newPubEnv(t)
	e.must(0, "key", "generate", "release-key", "-o", "json")
	j.check("key list", e.must(0, "key", "list", "-o", "json"))
	j.seen["key generate"]++

	for _, c := range jsonCommands() {
		if j.seen[c] == 0 {
			t.Errorf("otactl %s -o json is not checked against its schema here", c)
		}
	}
}
