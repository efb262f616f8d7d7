//go:build unix

package commands

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/testbroker"
)

// These tests run the built binary (see TestMain) on files that are not
// regular (device nodes, FIFOs, folders, symbolic links), and send it
// SIGINT and SIGTERM while it waits on a file, standard input or a broker.
// Every device node and FIFO is made inside the test's own folder.

// makeNode makes a file of the given kind at path: "char" (a null device,
// 1,3, as /dev/null), "fifo" or "dir", and returns what Lstat says of it.
func makeNode(t *testing.T, path, kind string) os.FileInfo {
	t.Helper()
	var err error
	switch kind {
	case "char":
		err = syscall.Mknod(path, syscall.S_IFCHR|0o666, int(1<<8|3))
	case "fifo":
		err = syscall.Mkfifo(path, 0o644)
	case "dir":
		err = os.Mkdir(path, 0o755)
	default:
		t.Fatalf("unknown kind %s", kind)
	}
	if err != nil && kind == "char" {
		requireReal(t, fmt.Sprintf("mknod (root): %v", err), false)
	}
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// dirNames lists the names in dir, sorted (os.ReadDir sorts them).
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// fileFixture is a folder with a component, a signed manifest, a key pair,
// ready for the writers.
type fileFixture struct {
	dir, manifest, priv, pub string
}

func newFileFixture(t *testing.T) fileFixture {
	t.Helper()
	e := newPubEnv(t)
	priv, pub := e.signingKey("k")
	app := e.file("app.bin", []byte("firmware bytes"))
	manifest := e.manifest("r.json", 1000, priv, "main@1.0.0="+app)
	return fileFixture{dir: e.dir, manifest: manifest, priv: priv, pub: pub}
}

// TestWritersRefuseNonRegularFiles: every file otactl writes is refused,
// exit 1, when it is (or a link leads to) a device node, a FIFO or a
// folder, and the node is left as it was: no file replaces it, no
// temporary file is left, and nothing blocks on a FIFO.
func TestWritersRefuseNonRegularFiles(t *testing.T) {
	t.Parallel()
	fx := newFileFixture(t)
	writers := []struct {
		name  string
		flag  string // "" when the message starts with the path
		args  func(target string) []string
		stdin string
		env   func(target string) []string
	}{
		{name: "release create --out", flag: "--out", args: func(p string) []string {
			return []string{"release", "create", "-c", "main@1.0.0=" + filepath.Join(fx.dir, "app.bin"), "--out", p}
		}},
		{name: "release sign --out", flag: "--out", args: func(p string) []string {
			return []string{"release", "sign", fx.manifest, "--sign", "file:" + fx.priv, "--out", p}
		}},
		{name: "key export --out", flag: "--out", args: func(p string) []string {
			return []string{"key", "export", fx.pub, "--out", p}
		}},
		{name: "key generate --out", flag: "--out", args: func(p string) []string {
			return []string{"key", "generate", "--out", p}
		}},
		{name: "artifact download -O", flag: "-O", args: func(p string) []string {
			// Refused before connecting: the broker address is never dialled.
			return []string{"artifact", "download", "main@1.0.0", "-O", p, "--clobber", "--broker", "mqtt://127.0.0.1:1"}
		}},
		{name: "broker passwd --users", flag: "--users", stdin: "device-password\n", args: func(p string) []string {
			return []string{"broker", "passwd", "--password-stdin", "--users", p, "dev1"}
		}},
		{name: "config set", args: func(string) []string {
			return []string{"config", "set", "broker", "mqtt://broker.example:1883"}
		}, env: func(p string) []string { return []string{"OTACTL_CONFIG=" + p} }},
	}
	for _, w := range writers {
		for _, kind := range []string{"char", "fifo", "dir", "link-to-char"} {
			t.Run(w.name+"/"+kind, func(t *testing.T) {
				dir := t.TempDir()
				target := filepath.Join(dir, "target")
				node, nodeKind := target, kind
				if kind == "link-to-char" {
					node, nodeKind = filepath.Join(dir, "null"), "char"
					if err := os.Symlink("null", target); err != nil {
						t.Fatal(err)
					}
				}
				made := makeNode(t, node, nodeKind)
				before := dirNames(t, dir)
				var env []string
				if w.env != nil {
					env = w.env(target)
				}
				r := runWithin(t, 20*time.Second, fx.dir, env, w.stdin, w.args(target)...)
				if r.code != ExitError {
					t.Fatalf("exit %d, want 1\nstderr: %s", r.code, r.stderr)
				}
				want := target + ": not a regular file ("
				if w.flag != "" {
					want = w.flag + " " + want
				}
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
				}
				st, err := os.Lstat(node)
				if err != nil || !os.SameFile(st, made) {
					t.Fatalf("%s is now a %v (%v), want the %s it was", node, st.Mode(), err, nodeKind)
				}
				if kind == "link-to-char" {
					if st, err := os.Lstat(target); err != nil || st.Mode()&fs.ModeSymlink == 0 {
						t.Fatalf("the link was replaced: %v %v", st.Mode(), err)
					}
				}
				if after := dirNames(t, dir); strings.Join(after, " ") != strings.Join(before, " ") {
					t.Errorf("the folder held %v and now holds %v", before, after)
				}
			})
		}
	}
}

// TestWritersFollowSymlinks: a write to a symbolic link replaces the file
// it leads to, keeping that file's mode, and the link stays a link.
func TestWritersFollowSymlinks(t *testing.T) {
	t.Parallel()
	fx := newFileFixture(t)
	for _, w := range []struct {
		name string
		args func(link string) []string
	}{
		{"release create --out", func(p string) []string {
			return []string{"release", "create", "-c", "main@1.0.0=" + filepath.Join(fx.dir, "app.bin"), "--sequence", "7", "--out", p}
		}},
		{"release sign in place", func(p string) []string {
			return []string{"release", "sign", p, "--sign", "file:" + fx.priv}
		}},
		{"key export --out", func(p string) []string { return []string{"key", "export", fx.pub, "--out", p} }},
	} {
		t.Run(w.name, func(t *testing.T) {
			dir := t.TempDir()
			real := filepath.Join(dir, "store", "real")
			if err := os.Mkdir(filepath.Dir(real), 0o755); err != nil {
				t.Fatal(err)
			}
			old, err := os.ReadFile(fx.manifest)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(real, old, 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(real, 0o640); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(dir, "link")
			if err := os.Symlink("store/real", link); err != nil {
				t.Fatal(err)
			}
			before, err := os.Stat(real)
			if err != nil {
				t.Fatal(err)
			}
			r := runWithin(t, 20*time.Second, fx.dir, nil, "", w.args(link)...)
			if r.code != 0 {
				t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
			}
			if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
				t.Fatalf("the link was replaced by a %v (%v)", st.Mode(), err)
			}
			st, err := os.Stat(real)
			if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o640 {
				t.Fatalf("the target is %v (%v), want a regular file of mode 0640", st.Mode(), err)
			}
			if os.SameFile(before, st) {
				t.Fatalf("the target was not replaced")
			}
			if got, _ := os.ReadFile(real); len(got) == 0 {
				t.Fatalf("the target is empty")
			}
			if names := dirNames(t, filepath.Dir(real)); len(names) != 1 {
				t.Errorf("the target's folder holds %v", names)
			}
		})
	}
	// A link that leads nowhere is refused, and nothing is created.
	dir := t.TempDir()
	link := filepath.Join(dir, "dangling")
	if err := os.Symlink("missing.json", link); err != nil {
		t.Fatal(err)
	}
	r := runWithin(t, 20*time.Second, fx.dir, nil, "", "release", "create", "-c", "main@1.0.0="+filepath.Join(fx.dir, "app.bin"), "--out", link)
	if r.code != ExitError || !strings.Contains(r.stderr, "--out "+link+": symbolic link to missing.json, which does not exist") {
		t.Fatalf("dangling link: exit %d\n%s", r.code, r.stderr)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("the folder holds %v", names)
	}
}

// TestArtifactDownloadClobber: -O FILE keeps an existing file unless
// --clobber (as gh release download does), and --clobber replaces it
// keeping its mode and its symbolic link.
func TestArtifactDownloadClobber(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		dir := t.TempDir()
		env := []string{"OTACTL_BROKER=" + b.URL}
		app := pubRandom(100_000)
		if err := os.WriteFile(filepath.Join(dir, "app.bin"), app, 0o644); err != nil {
			t.Fatal(err)
		}
		if r := runWithin(t, time.Minute, dir, env, "", "upload", "main@1.0.0", "app.bin"); r.code != 0 {
			t.Fatalf("upload: exit %d\n%s", r.code, r.stderr)
		}
		dest := filepath.Join(dir, "dl.bin")
		if err := os.WriteFile(dest, []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runWithin(t, time.Minute, dir, env, "", "artifact", "download", "main@1.0.0", "-O", dest)
		if r.code != ExitError || !strings.Contains(r.stderr, "-O "+dest+": already exists") || !strings.Contains(r.stderr, "hint: pass --clobber") {
			t.Fatalf("download over a file: exit %d\n%s", r.code, r.stderr)
		}
		if got, _ := os.ReadFile(dest); string(got) != "mine" {
			t.Fatalf("the existing file was changed")
		}
		link := filepath.Join(dir, "link.bin")
		if err := os.Symlink("dl.bin", link); err != nil {
			t.Fatal(err)
		}
		r = runWithin(t, time.Minute, dir, env, "", "artifact", "download", "main@1.0.0", "-O", link, "--clobber")
		if r.code != 0 {
			t.Fatalf("download --clobber: exit %d\n%s", r.code, r.stderr)
		}
		if got, _ := os.ReadFile(dest); !bytes.Equal(got, app) {
			t.Fatalf("--clobber did not replace the file")
		}
		if st, _ := os.Stat(dest); st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want the old 0600", st.Mode().Perm())
		}
		if st, _ := os.Lstat(link); st.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("the link was replaced")
		}
		fresh := filepath.Join(dir, "fresh.bin")
		if r := runWithin(t, time.Minute, dir, env, "", "artifact", "download", "main@1.0.0", "-O", fresh); r.code != 0 {
			t.Fatalf("download to a new file: exit %d\n%s", r.code, r.stderr)
		}
		if got, _ := os.ReadFile(fresh); !bytes.Equal(got, app) {
			t.Fatalf("the new file is not the artifact")
		}
		if names := dirNames(t, dir); strings.Join(names, " ") != "app.bin dl.bin fresh.bin link.bin" {
			t.Errorf("the folder holds %v", names)
		}
	})
}

// TestInputsRefuseNonRegularFiles: a FIFO (or a device node) given as any
// input file is refused at once with exit 1, never waited on.
func TestInputsRefuseNonRegularFiles(t *testing.T) {
	t.Parallel()
	fx := newFileFixture(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	makeNode(t, fifo, "fifo")
	null := filepath.Join(dir, "null")
	makeNode(t, null, "char")
	const unreachable = "mqtt://127.0.0.1:1"
	cases := []struct {
		name string
		code int
		args []string
		env  []string
	}{
		{"component fifo", ExitError, []string{"release", "create", "-c", "main@1.0.0=" + fifo}, nil},
		{"component device", ExitError, []string{"release", "create", "-c", "main@1.0.0=" + null}, nil},
		{"component fifo, no version", ExitError, []string{"release", "create", "-c", "main=" + fifo}, nil},
		{"manifest to show", ExitError, []string{"release", "show", fifo}, nil},
		{"manifest to sign", ExitError, []string{"release", "sign", fifo, "--sign", "file:" + fx.priv}, nil},
		{"manifest to publish", ExitError, []string{"release", "publish", fifo, "--broker", unreachable}, nil},
		{"signing key file", ExitError, []string{"release", "sign", fx.manifest, "--sign", "file:" + fifo, "--out", "-"}, nil},
		{"pubkey file", ExitError, []string{"release", "verify", fx.manifest, "--pubkey", fifo}, nil},
		{"key import", ExitError, []string{"key", "import", "k", fifo}, nil},
		{"key export", ExitError, []string{"key", "export", "file:" + fifo}, nil},
		{"upload artifact", ExitError, []string{"upload", "main@1.0.0", fifo, "--broker", unreachable}, nil},
		{"devices file", ExitError, []string{"release", "publish", fx.manifest, "--devices-file", fifo, "--broker", unreachable}, nil},
		{"ca file", ExitError, []string{"release", "list", "--broker", "mqtts://127.0.0.1:1", "--ca-file", fifo}, nil},
		{"broker users file", ExitError, []string{"broker", "--listen", "127.0.0.1:0", "--users", fifo}, nil},
		{"config file", ExitError, []string{"config", "list"}, []string{"OTACTL_CONFIG=" + fifo}},
		{"verify artifact", ExitError, []string{"release", "verify", fx.manifest, fifo}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runWithin(t, 20*time.Second, fx.dir, c.env, "", c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", r.code, c.code, r.stderr)
			}
			if !strings.Contains(r.stderr, ": not a regular file (") {
				t.Errorf("stderr does not say what is wrong:\n%s", r.stderr)
			}
		})
	}
}

// bytesRead is how much the process has read (rchar in /proc/PID/io).
func bytesRead(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// interruptGrace is how long otactl may take to exit after a signal.
const interruptGrace = 5 * time.Second

// TestSignalsEndBlockingWork: SIGINT and SIGTERM end otactl with exit 130
// and "interrupted" within a few seconds, whatever it waits on: hashing a
// huge file, a broker that never answers, a pipe nobody writes to. An
// interrupted release create leaves no --out file, whole or half.
func TestSignalsEndBlockingWork(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.bin")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no disk used, and far more than can be hashed before the signal.
	if err := f.Truncate(64 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	small := filepath.Join(dir, "app.bin")
	if err := os.WriteFile(small, pubRandom(300_000), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, "r.json")
	if r := runWithin(t, time.Minute, dir, nil, "", "release", "create", "-c", "main@1.0.0="+small, "--sequence", "5", "--out", manifest); r.code != 0 {
		t.Fatalf("release create: exit %d\n%s", r.code, r.stderr)
	}
	silent := testbroker.Silent(t)
	stalled, stalledBusy := testbroker.Stalled(t)
	real := testbroker.All(t)

	// ready waits until the process is doing the thing to interrupt.
	type scenario struct {
		name  string
		args  []string
		stdin func(t *testing.T) io.Reader
		ready func(t *testing.T, r *runningOtactl)
	}
	sleep := func(d time.Duration) func(*testing.T, *runningOtactl) {
		return func(*testing.T, *runningOtactl) { time.Sleep(d) }
	}
	hashing := func(t *testing.T, r *runningOtactl) {
		deadline := time.Now().Add(time.Minute)
		for bytesRead(r.cmd.Process.Pid) < 64<<20 {
			if time.Now().After(deadline) {
				t.Fatal("otactl did not start hashing within a minute")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	drain := func() {
		for {
			select {
			case <-stalledBusy:
			default:
				return
			}
		}
	}
	waitStalled := func(t *testing.T, _ *runningOtactl) {
		select {
		case <-stalledBusy:
			time.Sleep(200 * time.Millisecond)
		case <-time.After(time.Minute):
			t.Fatal("otactl sent nothing after CONNECT within a minute")
		}
	}
	// openPipe is a pipe whose write end stays open and silent.
	openPipe := func(t *testing.T) io.Reader {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pr.Close(); pw.Close() })
		return pr
	}
	out := filepath.Join(dir, "out", "release.json")
	if err := os.Mkdir(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	scenarios := []scenario{
		{name: "release create hashing", args: []string{"release", "create", "-c", "main@1.0.0=" + huge, "--out", out}, ready: hashing},
		{name: "publish, broker silent", args: []string{"release", "publish", manifest, "--artifacts", dir, "--broker", silent}, ready: sleep(time.Second)},
		{name: "publish, broker stalled", args: []string{"release", "publish", manifest, small, "--broker", stalled}, ready: waitStalled},
		{name: "upload, broker stalled", args: []string{"upload", "main@1.0.0", small, "--broker", stalled}, ready: waitStalled},
		{name: "release list, broker stalled", args: []string{"release", "list", "--broker", stalled}, ready: waitStalled},
		{name: "rollout wait, broker stalled", args: []string{"rollout", "wait", "--version", "1.0.0", "--broker", stalled}, ready: waitStalled},
		{name: "watch, broker stalled", args: []string{"watch", "--broker", stalled}, ready: waitStalled},
		{name: "release show from silent stdin", args: []string{"release", "show", "-"}, stdin: openPipe, ready: sleep(time.Second)},
		{name: "password from silent stdin", args: []string{"release", "list", "--password-stdin", "--username", "ci", "--broker", real[0].URL}, stdin: openPipe, ready: sleep(time.Second)},
		{name: "key import from silent stdin", args: []string{"key", "import", "k", "-"}, stdin: openPipe, ready: sleep(time.Second)},
	}
	for _, b := range real {
		scenarios = append(scenarios, scenario{
			name:  "rollout wait on " + b.Name,
			args:  []string{"rollout", "wait", "--version", "9.9.9", "--timeout", "10m", "--broker", b.URL},
			ready: sleep(1500 * time.Millisecond),
		})
	}
	for _, sc := range scenarios {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(sc.name+"/"+sig.String(), func(t *testing.T) {
				drain()
				var stdin io.Reader
				if sc.stdin != nil {
					stdin = sc.stdin(t)
				}
				r := startOtactlIn(t, dir, nil, stdin, sc.args...)
				sc.ready(t, r)
				select {
				case <-r.done:
					t.Fatalf("otactl ended before the signal: exit %d\n%s", r.code, r.stderr.String())
				default:
				}
				if err := r.cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				res := r.waitWithin(t, interruptGrace)
				if res.code != ExitInterrupted || !strings.HasSuffix(res.stderr, "interrupted\n") {
					t.Fatalf("exit %d after %v, want 130 and \"interrupted\"\nstderr: %s", res.code, time.Since(start), res.stderr)
				}
				if names := dirNames(t, filepath.Dir(out)); len(names) != 0 {
					t.Fatalf("an interrupted run left %v", names)
				}
			})
		}
	}
}
