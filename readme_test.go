package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/internal/testsecrets"
)

// README.md is a story a user follows top to bottom: TestReadme runs its
// ```sh blocks in order, in one fresh folder, against an embedded broker,
// so that the README cannot drift from what otactl does.
//
// Each block runs in a bash of its own with `set -euo pipefail` (and
// `set -a`, so a variable it sets is kept), starting in the folder and
// with the exported variables the block before left. otactl on PATH is
// the one built from this checkout, OTACTL_BROKER names the test's
// broker, HOME and the config are throwaway, and the OS keyring is a
// gnome-keyring of the test's own. Processes a block leaves in the
// background are stopped at the end.
//
// A block preceded (blank lines between allowed) by
// `<!-- readme-test: skip (REASON) -->` is not run; by
// `<!-- readme-test: exit N -->` it must exit N. Blocks of other languages
// are not run.

// readmeBlockTimeout bounds one block, so that one that hangs fails with
// its output. The longest, the staged rollout, takes about 15 s, and the
// whole story about 30 s; the margin is for a machine busy with the other
// tests.
const readmeBlockTimeout = time.Minute

// readmeColumns is the width every line of a shell block must fit.
const readmeColumns = 80

type readmeBlock struct {
	line   int // README line of the first line inside the fence
	code   string
	skip   string // the reason, when marked skip
	exit   int    // the exit code it must end with
	marked bool   // marked skip or exit
}

func (b readmeBlock) String() string {
	first, _, _ := strings.Cut(strings.TrimSpace(b.code), "\n")
	return fmt.Sprintf("README.md:%d %q", b.line, first)
}

var readmeMarker = regexp.MustCompile(`^<!-- readme-test: (?:skip \((.+)\)|exit (\d+)) -->$`)

// readmeBlocks parses the fenced blocks of a README: the ```sh ones, with
// their markers. A marker that is malformed or not followed by a ```sh
// block is an error.
func readmeBlocks(text string) ([]readmeBlock, error) {
	var blocks []readmeBlock
	var pending *readmeBlock
	pendingLine := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "<!-- readme-test"):
			m := readmeMarker.FindStringSubmatch(trimmed)
			if m == nil {
				return nil, fmt.Errorf("README.md:%d: malformed marker %q: want <!-- readme-test: skip (REASON) --> or <!-- readme-test: exit N -->", n, trimmed)
			}
			if pending != nil {
				return nil, fmt.Errorf("README.md:%d: marker not followed by a ```sh block", pendingLine)
			}
			pending, pendingLine = &readmeBlock{skip: m[1], marked: true}, n
			if m[2] != "" {
				_, _ = fmt.Sscan(m[2], &pending.exit)
			}
		case strings.HasPrefix(trimmed, "```"):
			lang := strings.TrimPrefix(trimmed, "```")
			indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
			start := n
			var code strings.Builder
			closed := false
			for sc.Scan() {
				n++
				l := sc.Text()
				if strings.TrimSpace(l) == "```" {
					closed = true
					break
				}
				code.WriteString(strings.TrimPrefix(l, indent) + "\n")
			}
			if !closed {
				return nil, fmt.Errorf("README.md:%d: block not closed", start)
			}
			if lang != "sh" {
				if pending != nil {
					return nil, fmt.Errorf("README.md:%d: marker not followed by a ```sh block (a ```%s block)", pendingLine, lang)
				}
				continue
			}
			b := readmeBlock{line: start + 1, code: code.String()}
			if pending != nil {
				b.skip, b.exit, b.marked = pending.skip, pending.exit, true
			}
			blocks = append(blocks, b)
			pending = nil
		case trimmed != "" && pending != nil:
			return nil, fmt.Errorf("README.md:%d: marker not followed by a ```sh block", pendingLine)
		}
	}
	if pending != nil {
		return nil, fmt.Errorf("README.md:%d: marker not followed by a ```sh block", pendingLine)
	}
	return blocks, sc.Err()
}

func TestReadmeBlocksParse(t *testing.T) {
	text := "# t\n```sh\necho a\n```\n\n<!-- readme-test: skip (needs a token) -->\n\n```sh\necho b\n```\n" +
		"```yaml\nx: 1\n```\n<!-- readme-test: exit 3 -->\n- item:\n  ```sh\n  false\n  ```\n"
	got, err := readmeBlocks(text)
	if err == nil {
		t.Fatalf("a marker before a list item was taken: %+v", got)
	}
	text = strings.Replace(text, "- item:\n", "", 1)
	got, err = readmeBlocks(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []readmeBlock{{line: 3, code: "echo a\n"}, {line: 9, code: "echo b\n", skip: "needs a token", marked: true},
		{line: 16, code: "false\n", exit: 3, marked: true}}
	if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
		t.Errorf("blocks = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"<!-- readme-test: skip -->\n```sh\nx\n```\n", "<!-- readme-test: exit 3 -->\n```yaml\nx\n```\n",
		"<!-- readme-test: skip (x) -->\n", "```sh\nx\n"} {
		if _, err := readmeBlocks(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// readmeFileBlocks are the ```sh blocks of README.md.
func readmeFileBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	text, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readmeBlocks(string(text))
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestReadmeFits checks that every line of README.md's shell blocks fits
// an 80-column terminal, and that no command is cut short with "..." (a
// comment may use it).
func TestReadmeFits(t *testing.T) {
	blocks := readmeFileBlocks(t)
	for _, b := range blocks {
		for i, l := range strings.Split(strings.TrimSuffix(b.code, "\n"), "\n") {
			if n := len([]rune(l)); n > readmeColumns {
				t.Errorf("README.md:%d: %d columns, more than %d: %s", b.line+i, n, readmeColumns, l)
			}
			if cmd, _, _ := strings.Cut(l, "#"); strings.Contains(cmd, "...") || strings.Contains(cmd, "…") {
				t.Errorf("README.md:%d: a command cut short cannot be copied: %s", b.line+i, l)
			}
		}
	}
}

func TestReadme(t *testing.T) {
	// The story's tools besides otactl, and a keyring of its own.
	for _, p := range []string{"bash", "jq", "openssl", "dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("OTACTL_TEST_REQUIRE_REAL") == "1" {
				t.Fatalf("%s not found: the README's story needs it", p)
			}
			t.Skipf("%s not found: the README's story needs it", p)
		}
	}
	blocks := readmeFileBlocks(t)
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "otactl"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env := readmeEnv(t, root, bin)
	broker := exec.Command(filepath.Join(bin, "otactl"), "broker", "--listen", "127.0.0.1:0", "-o", "json")
	broker.Env = env
	env = append(env, "OTACTL_BROKER="+testbroker.Process(t, broker).URL)

	story := filepath.Join(root, "story")
	state := filepath.Join(root, "state")
	for _, d := range []string{story, state} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(state, "cwd"), []byte(story), 0o644); err != nil {
		t.Fatal(err)
	}
	env = append(env, "READMETEST_STATE="+state)
	var groups []int
	t.Cleanup(func() {
		for _, g := range groups {
			_ = syscall.Kill(-g, syscall.SIGTERM)
		}
	})
	ran := 0
	for i, b := range blocks {
		if b.skip != "" {
			t.Logf("skipped %s: %s", b, b.skip)
			continue
		}
		start := time.Now()
		out, code, pgid, err := runReadmeBlock(t, b, i, state, env)
		t.Logf("ran %s in %s", b, time.Since(start).Round(time.Millisecond))
		groups = append(groups, pgid)
		registerStoryKeys(t, story)
		testsecrets.Check(t, b.String(), out)
		switch {
		case err != nil:
			t.Fatalf("%s: %v\n%s%s", b, err, out, storyLogs(story))
		case code != b.exit:
			t.Fatalf("%s: exit %d, want %d; output:\n%s%s", b, code, b.exit, out, storyLogs(story))
		}
		ran++
	}
	t.Logf("ran %d of %d shell blocks of README.md", ran, len(blocks))
}

// runReadmeBlock runs block i in a bash of its own process group and
// returns its output, its exit code and the group.
func runReadmeBlock(t *testing.T, b readmeBlock, i int, state string, env []string) (string, int, int, error) {
	t.Helper()
	script := fmt.Sprintf(`trap 'rc=$?; export -p > "$READMETEST_STATE/env"; pwd > "$READMETEST_STATE/cwd"; exit $rc' EXIT
if [ -f "$READMETEST_STATE/env" ]; then source "$READMETEST_STATE/env"; fi
cd "$(cat "$READMETEST_STATE/cwd")"
set -a -euo pipefail
# README.md:%d
%s`, b.line, b.code)
	path := filepath.Join(state, fmt.Sprintf("block-%03d.sh", i))
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file, not a pipe: what a block leaves in the background keeps
	// its output open.
	outPath := filepath.Join(state, fmt.Sprintf("block-%03d.out", i))
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("bash", path)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, nil, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	expired := make(chan struct{})
	timer := time.AfterFunc(readmeBlockTimeout, func() {
		close(expired)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	})
	_ = cmd.Wait() // the exit code is the verdict
	timer.Stop()
	text, _ := os.ReadFile(outPath)
	select {
	case <-expired:
		return string(text), -1, pgid, fmt.Errorf("still running after %s", readmeBlockTimeout)
	default:
	}
	return string(text), cmd.ProcessState.ExitCode(), pgid, nil
}

// readmeEnv is the environment of the story: this process's, without
// otactl's settings, with a throwaway home, a keyring of its own and the
// built otactl first on PATH.
func readmeEnv(t *testing.T, root, bin string) []string {
	home := filepath.Join(root, "home")
	run := filepath.Join(root, "run")
	for _, d := range []string{home, run} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "OTACTL_") && k != "OTACTL_TEST_SECRETS_FILE",
			strings.HasPrefix(k, "XDG_"), strings.HasPrefix(k, "DBUS_"), k == "GNOME_KEYRING_CONTROL",
			k == "HOME", k == "PATH", k == "COLUMNS", k == "SOURCE_DATE_EPOCH", k == "GITHUB_ACTIONS":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local/share"), "XDG_RUNTIME_DIR="+run,
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "COLUMNS=80")
	return append(env, readmeKeyring(t, env)...)
}

// readmeKeyring starts a session bus and an unlocked gnome-keyring of the
// test's own, so the story never touches the user's keyring, and returns
// the variables that lead to them.
func readmeKeyring(t *testing.T, env []string) []string {
	bus := exec.Command("dbus-daemon", "--session", "--fork", "--nopidfile", "--print-address=1", "--print-pid=1")
	bus.Env = env
	out, err := bus.Output()
	if err != nil {
		t.Fatalf("dbus-daemon: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		t.Fatalf("dbus-daemon printed %q", out)
	}
	var busPID int
	if _, err := fmt.Sscan(lines[1], &busPID); err != nil {
		t.Fatalf("dbus-daemon printed %q", out)
	}
	t.Cleanup(func() { _ = syscall.Kill(busPID, syscall.SIGTERM) })
	vars := []string{"DBUS_SESSION_BUS_ADDRESS=" + lines[0]}
	keyring := exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	keyring.Env = append(env, vars...)
	keyring.Stdin = strings.NewReader("otactl-readme\n")
	stdout, err := keyring.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := keyring.Start(); err != nil {
		t.Fatalf("gnome-keyring-daemon: %v", err)
	}
	t.Cleanup(func() { _ = keyring.Process.Kill(); _ = keyring.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && k == "GNOME_KEYRING_CONTROL" {
			vars = append(vars, k+"="+v)
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return vars
}

// storyLogs are the last lines of the logs the story's background
// processes write (*.log in its folder).
func storyLogs(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var b strings.Builder
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(text), "\n"), "\n")
		fmt.Fprintf(&b, "--- the last lines of %s:\n%s\n", filepath.Base(f), strings.Join(lines[max(0, len(lines)-30):], "\n"))
	}
	return b.String()
}

// registerStoryKeys registers the private keys the story has written, so
// that no later output may show them.
func registerStoryKeys(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.pem"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), "PRIVATE KEY-----") {
			testsecrets.RegisterPEM(t, "README key "+filepath.Base(f), b)
		}
	}
}
