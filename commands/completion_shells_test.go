package commands

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/report"
)

// These tests load the completion scripts into real bash, zsh and fish
// processes, with the built otactl on PATH, and ask them to complete.

// shellEnv is a folder with keys/release.pem in it, a profile "prod" in
// its config file, and the environment that puts the built otactl on
// PATH.
func shellEnv(t *testing.T) (dir string, env []string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "release.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	env = append(cleanEnv(t), "PATH="+filepath.Dir(otactlBin)+":"+os.Getenv("PATH"))
	if r := runOtactl(t, dir, env, "", "config", "set", "broker", "mqtt://127.0.0.1:1", "--profile", "prod"); r.code != 0 {
		t.Fatalf("config set: %d %s", r.code, r.stderr)
	}
	return dir, env
}

// shellLines runs script in shell (bash, zsh or fish) in dir and returns
// its output lines.
func shellLines(t *testing.T, dir string, env []string, shell, script string) []string {
	t.Helper()
	cmd := exec.Command(shell, "-c", script)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", shell, err, out)
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n")
}

// has fails the test unless every one of want is among got.
func has(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("%s: %q lacks %q", what, got, w)
		}
	}
}

func TestCompletionInBash(t *testing.T) {
	requireReal(t, "bash", haveCommand("bash"))
	t.Parallel()
	dir, env := shellEnv(t)
	complete := func(line string) []string {
		return shellLines(t, dir, env, "bash", `source <(otactl completion bash)
COMP_LINE='`+line+`'; COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<<"$COMP_LINE"; COMP_CWORD=$((${#COMP_WORDS[@]}-1))
_otactl; printf '%s\n' "${COMPREPLY[@]}"`)
	}
	has(t, "commands", complete("otactl release cr"), "create")
	has(t, "--output", complete("otactl release list --output "), "text", "json")
	has(t, "--sign", complete("otactl release create --sign "), "file:", "env:")
	// bash replaces only what follows the last ':' of the word.
	has(t, "--sign file:", complete("otactl release create --sign file:keys/re"), "keys/release.pem")
	has(t, "--sign env:", complete("otactl release create --sign env:PA"), "PATH")
	has(t, "completion", complete("otactl completion "), "bash", "zsh", "fish", "powershell")
	has(t, "config use", complete("otactl config use p"), "prod")
	has(t, "--profile", complete("otactl release list --profile "), "default", "prod")
	has(t, "watch --state", complete("otactl watch --state down"), "downloading", "downloaded")
	has(t, "files", complete("otactl release show ke"), "keys/")
}

func TestCompletionInZsh(t *testing.T) {
	requireReal(t, "zsh", haveCommand("zsh"))
	t.Parallel()
	dir, env := shellEnv(t)
	// compsys's functions, as stubs that print what they were given: the
	// script's own logic runs in a real zsh.
	complete := func(words ...string) []string {
		return shellLines(t, dir, env, "zsh", `compdef() { : }
_describe() { local arr=${@[-1]}; print -rl -- "${(@P)arr}" }
_files() { print -r -- "FILES" }
compset() { print -r -- "COMPSET $2" }
source <(otactl completion zsh)
words=(`+strings.Join(words, " ")+`); CURRENT=${#words}
_otactl`)
	}
	has(t, "commands", complete("otactl", "release", "cr"), "create:hash components and write a release manifest")
	has(t, "--output", complete("otactl", "release", "list", "--output", "''"), "text:for people", "json:JSON only, for scripts")
	has(t, "--sign", complete("otactl", "release", "create", "--sign", "''"), `file\::a PEM file`)
	has(t, "--sign file:", complete("otactl", "release", "create", "--sign", "file:keys/re"), "COMPSET file:", "FILES")
	has(t, "config use", complete("otactl", "config", "use", "p"), "prod")
}

func TestCompletionInFish(t *testing.T) {
	requireReal(t, "fish", haveCommand("fish"))
	t.Parallel()
	dir, env := shellEnv(t)
	complete := func(line string) []string {
		return shellLines(t, dir, env, "fish", `otactl completion fish | source; complete -C '`+line+`'`)
	}
	has(t, "commands", complete("otactl release cr"), "create\thash components and write a release manifest")
	has(t, "--output", complete("otactl release list --output "), "text\tfor people", "json\tJSON only, for scripts")
	has(t, "--sign file:", complete("otactl release create --sign file:keys/re"), "file:keys/release.pem")
	has(t, "completion", complete("otactl completion "), "bash", "zsh", "fish")
	has(t, "config use", complete("otactl config use p"), "prod")
}

// TestCompletionAsksTheBroker: cohort names and device ids come from the
// configured broker's retained messages; with no broker configured,
// completion does not try one.
func TestCompletionAsksTheBroker(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		b.Publish(t, "cohorts/canary/.u/desired", manifestPayload(t, 1000, false, map[string]string{"main": "1.0.0"}))
		b.Publish(t, "devices/d7/.u/desired", manifestPayload(t, 1000, false, map[string]string{"main": "1.0.0"}))
		b.Publish(t, "devices/d8/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "1.0.0", "", "json", false))
		env := []string{"OTACTL_BROKER=" + b.URL}
		if r := runOtactl(t, "", env, "", "__complete", "rollout", "status", "--cohort", ""); r.code != 0 || r.stdout != "canary\n" {
			t.Errorf("--cohort: exit %d, %q %s", r.code, r.stdout, r.stderr)
		}
		if r := runOtactl(t, "", env, "", "__complete", "watch", "--device", "d"); r.code != 0 || r.stdout != "d7\nd8\n" {
			t.Errorf("--device: exit %d, %q %s", r.code, r.stdout, r.stderr)
		}
	})
	if r := runOtactl(t, "", nil, "", "__complete", "watch", "--device", ""); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("no broker configured: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}
