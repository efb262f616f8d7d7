package commands

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/syncbuf"
	"github.com/otactl/otactl/internal/testsecrets"
	"github.com/otactl/otactl/upload"
)

// fleetSystem is a System with buffers, no terminal and the environment
// env.
func fleetSystem(t *testing.T, stdin string, env map[string]string) (*System, *syncbuf.Buffer, *syncbuf.Buffer) {
	t.Helper()
	out, errOut := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	t.Cleanup(func() { testsecrets.Check(t, "otactl (in-process)", out.String(), errOut.String()) })
	return &System{
		Stdin:  strings.NewReader(stdin),
		Stdout: out,
		Stderr: errOut,
		Now:    time.Now,
		Getenv: func(k string) string { return env[k] },
	}, out, errOut
}

// startBrokerCommand runs 'otactl broker args...' in-process and returns
// its URL and a function that stops it and returns its exit code.
func startBrokerCommand(t *testing.T, args ...string) (string, func() int, *syncbuf.Buffer) {
	t.Helper()
	sys, out, errOut := fleetSystem(t, "", nil)
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() {
		code <- runMain(ctx, append([]string{"otactl", "broker", "--listen", "127.0.0.1:0", "-o", "json"}, args...), sys)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "\n") {
		select {
		case c := <-code:
			t.Fatalf("broker exited %d: %s", c, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("broker printed no URL: %s", errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var info struct {
		URL  string `json:"url"`
		Auth bool   `json:"auth"`
	}
	if err := json.Unmarshal([]byte(out.String()), &info); err != nil {
		t.Fatalf("broker -o json printed %q: %v", out.String(), err)
	}
	stopped := false
	stop := func() int {
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		return <-code
	}
	t.Cleanup(func() { stop() })
	return info.URL, stop, errOut
}

func TestBrokerCommandKeepsRetainedAcrossRestart(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	url, stop, errOut := startBrokerCommand(t, "--data", data)
	if !strings.Contains(errOut.String(), "no --users") || !strings.Contains(errOut.String(), "loopback") {
		t.Errorf("stderr does not say it is open on loopback: %s", errOut.String())
	}
	c, err := upload.Connect(context.Background(), upload.Options{Broker: url})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PublishVerified(context.Background(), ".u/desired", []byte(`{"sequenceNumber":1}`)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if code := stop(); code != 0 {
		t.Fatalf("broker exited %d on interrupt: %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "broker: stopped") {
		t.Errorf("no stop message: %s", errOut.String())
	}

	url, _, _ = startBrokerCommand(t, "--data", data)
	c, err = upload.Connect(context.Background(), upload.Options{Broker: url})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, ok, err := c.ReadRetained(context.Background(), ".u/desired")
	if err != nil || !ok || string(got) != `{"sequenceNumber":1}` {
		t.Errorf("after restart: %q found=%v err=%v", got, ok, err)
	}
}

func TestBrokerPasswdAndUsers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	run := func(stdin string, env map[string]string, args ...string) string {
		t.Helper()
		sys, out, errOut := fleetSystem(t, stdin, env)
		if code := runMain(context.Background(), append([]string{"otactl", "broker", "passwd"}, args...), sys); code != 0 {
			t.Fatalf("passwd %v: exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	for _, pw := range []string{"ops-secret", "dev-secret", "dev-secret-2"} {
		testsecrets.Register(t, "users file password", pw)
	}
	run("ops-secret\n", nil, "--password-stdin", "--role", "operator", "--iterations", "1000", "--users", users, "ops")
	run("", map[string]string{"OTACTL_PASSWORD": "dev-secret"}, "--iterations", "1000", "--cohort", "eu", "--users", users, "dev-1")
	line := run("", map[string]string{"OTACTL_PASSWORD": "other"}, "--iterations", "1000", "dev-2")
	if !strings.HasPrefix(line, "dev-2 $pbkdf2-sha256$1000$") || !strings.HasSuffix(line, " device\n") {
		t.Errorf("printed line %q", line)
	}
	// Replacing an entry keeps one line per user.
	run("", map[string]string{"OTACTL_PASSWORD": "dev-secret-2"}, "--iterations", "1000", "--cohort", "us", "--users", users, "dev-1")
	text, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(text), "dev-1 "); n != 1 || !strings.Contains(string(text), " device us\n") {
		t.Errorf("users file after replacing dev-1:\n%s", text)
	}
	if strings.Contains(string(text), "secret") {
		t.Error("the users file holds a password in clear")
	}
	if fi, _ := os.Stat(users); fi.Mode().Perm() != 0o600 {
		t.Errorf("users file mode %v", fi.Mode().Perm())
	}
	u, err := broker.LoadUsers(users)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.Authenticate("dev-1", []byte("dev-secret-2")); !ok {
		t.Error("dev-1's new password refused")
	}
	if _, ok := u.Authenticate("dev-1", []byte("dev-secret")); ok {
		t.Error("dev-1's old password still accepted")
	}

	// The broker with this file: the operator connects, a wrong password
	// does not, and the broker says it authenticates.
	url, _, errOut := startBrokerCommand(t, "--users", users)
	if !strings.Contains(errOut.String(), "2 users") {
		t.Errorf("stderr: %s", errOut.String())
	}
	c, err := upload.Connect(context.Background(), upload.Options{Broker: url, Username: "ops", Password: "ops-secret"})
	if err != nil {
		t.Fatalf("operator: %v", err)
	}
	c.Close()
	if _, err := upload.Connect(context.Background(), upload.Options{Broker: url, Username: "ops", Password: "nope"}); err == nil {
		t.Error("wrong password accepted")
	}
}

// TestBrokerEmptyUsersFile: an empty users file lets nobody in, and the
// broker says so.
func TestBrokerEmptyUsersFile(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "empty.txt")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, errOut := startBrokerCommand(t, "--users", empty)
	// Said on standard error just after the URL on standard output.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(errOut.String(), "broker passwd") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(errOut.String(), "nobody can connect") || !strings.Contains(errOut.String(), "otactl broker passwd") {
		t.Errorf("an empty users file: stderr %s", errOut.String())
	}
}
