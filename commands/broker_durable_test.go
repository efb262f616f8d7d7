package commands

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/rawmqtt"
	"github.com/otactl/otactl/internal/tmpfs"
	"github.com/otactl/otactl/upload"
)

// readBack returns the retained message on each topic from the broker at
// url; a topic with none is left out.
func readBack(t *testing.T, url string, topics ...string) map[string][]byte {
	t.Helper()
	c, err := upload.Connect(context.Background(), upload.Options{Broker: url, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[string][]byte{}
	for _, topic := range topics {
		b, found, err := c.ReadRetained(context.Background(), topic)
		if err != nil {
			t.Fatalf("read back %s: %v", topic, err)
		}
		if found {
			out[topic] = b
		}
	}
	return out
}

// release makes a component file of size random bytes and an unsigned
// release of it, main@version with sequence seq, in dir; it returns the
// manifest and component paths.
func testRelease(t *testing.T, dir, version string, seq, size int) (manifest, component string) {
	t.Helper()
	component = filepath.Join(dir, "main-"+version+".bin")
	if err := os.WriteFile(component, pubRandom(size), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest = filepath.Join(dir, "release-"+version+".json")
	res := runOtactl(t, dir, nil, "", "release", "create", "-c", "main@"+version+"="+component, "--sequence", fmt.Sprint(seq), "--out", manifest)
	if res.code != 0 {
		t.Fatalf("release create: exit %d\n%s", res.code, res.stderr)
	}
	return manifest, component
}

// On a data folder too small for both, of two releases of 3 and 5 MiB the
// one that cannot be stored fails its 'release publish', and what exited 0
// is all there after a restart: the broker acknowledges a retained message
// only once it is on disk.
func TestBrokerDiskFullFailsPublish(t *testing.T) {
	t.Parallel()
	disk := tmpfs.Mount(t, "6m")
	b := startBrokerProcess(t, "--data", disk)
	dir := t.TempDir()
	m3, fw3 := testRelease(t, dir, "3.0.0", 300, 3<<20)
	m5, fw5 := testRelease(t, dir, "5.0.0", 500, 5<<20)
	env := []string{"OTACTL_BROKER=" + b.URL}

	r3 := runOtactl(t, dir, env, "", "release", "publish", m3, fw3, "--device", "dev-3")
	if r3.code != 0 {
		t.Fatalf("3 MiB on a 6 MiB disk: exit %d\n%s\nbroker:\n%s", r3.code, r3.stderr, b.Stderr())
	}
	r5 := runOtactl(t, dir, env, "", "release", "publish", m5, fw5, "--device", "dev-5")
	if r5.code != ExitError {
		t.Errorf("5 MiB more on a 6 MiB disk: exit %d, want %d\n%s", r5.code, ExitError, r5.stderr)
	}
	want := "could not store retained message on .u/c/main@5.0.0: no space left on device; closing the publisher's connection"
	if !strings.Contains(b.Stderr(), want) {
		t.Errorf("the broker does not say %q:\n%s", want, b.Stderr())
	}
	topics := []string{"devices/dev-3/.u/desired", ".u/c/main@3.0.0", "devices/dev-5/.u/desired", ".u/c/main@5.0.0"}
	if got := readBack(t, b.URL, topics[2:]...); len(got) != 0 {
		t.Errorf("the broker serves parts of the release it could not store: %v", keysOf(got))
	}
	b.Stop()

	b2 := startBrokerProcess(t, "--data", disk)
	got := readBack(t, b2.URL, topics...)
	for topic, file := range map[string]string{topics[0]: m3, topics[1]: fw3} {
		want, _ := os.ReadFile(file)
		if !bytes.Equal(got[topic], want) {
			t.Errorf("after a restart %s holds %d bytes, want the %d of %s", topic, len(got[topic]), len(want), filepath.Base(file))
		}
	}
	for _, topic := range topics[2:] {
		if _, ok := got[topic]; ok {
			t.Errorf("after a restart %s holds what was never acknowledged", topic)
		}
	}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A release whose 'release publish' exited 0 survives the broker being
// killed with SIGKILL right after it, through the in-memory and the
// streamed upload paths.
func TestBrokerKill9KeepsAcknowledged(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	dir := t.TempDir()
	type published struct{ manifest, component, device, version string }
	var done []published
	for round, size := range []int{200_000, 3 << 20, 1000} {
		b := startBrokerProcess(t, "--data", data)
		version := fmt.Sprintf("1.0.%d", round)
		m, fw := testRelease(t, dir, version, 100+round, size)
		device := fmt.Sprint("dev-", round)
		res := runOtactl(t, dir, []string{"OTACTL_BROKER=" + b.URL}, "", "release", "publish", m, fw, "--device", device)
		if res.code != 0 {
			t.Fatalf("round %d: publish: exit %d\n%s", round, res.code, res.stderr)
		}
		b.Kill9()
		done = append(done, published{m, fw, device, version})

		b2 := startBrokerProcess(t, "--data", data)
		var topics []string
		for _, p := range done {
			topics = append(topics, "devices/"+p.device+"/.u/desired", ".u/c/main@"+p.version)
		}
		got := readBack(t, b2.URL, topics...)
		for _, p := range done {
			for topic, file := range map[string]string{"devices/" + p.device + "/.u/desired": p.manifest, ".u/c/main@" + p.version: p.component} {
				want, _ := os.ReadFile(file)
				if !bytes.Equal(got[topic], want) {
					t.Errorf("round %d: after kill -9 %s holds %d bytes, want %d", round, topic, len(got[topic]), len(want))
				}
			}
		}
		b2.Kill9()
	}
}

// brokerUsers writes a users file with device dev-1 (password dev-pw, the
// default PBKDF2 cost) and returns its path.
func brokerUsers(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	res := runOtactl(t, dir, []string{"OTACTL_PASSWORD=dev-pw"}, "", "broker", "passwd", "--role", "device", "--users", users, "dev-1")
	if res.code != 0 {
		t.Fatalf("broker passwd: exit %d\n%s", res.code, res.stderr)
	}
	return users
}

// All 400 parallel connects of one device with the right password get a
// successful CONNACK, each taking over the session of the one before.
func TestBrokerParallelConnectsOfOneDevice(t *testing.T) {
	t.Parallel()
	b := startBrokerProcess(t, "--users", brokerUsers(t))
	const n = 400
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	var conns []*rawmqtt.Conn
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, rc, err := rawmqtt.Connect(b.Addr, rawmqtt.ConnectOptions{ID: "dev-1", User: "dev-1", Password: "dev-pw"}, 30*time.Second)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				answers[err.Error()[strings.LastIndex(err.Error(), ": ")+1:]]++
			default:
				answers[fmt.Sprint("code ", rc)]++
				conns = append(conns, c)
			}
		}()
	}
	close(start)
	wg.Wait()
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if answers["code 0"] != n {
		t.Fatalf("of %d parallel connects of one device, %d got a successful CONNACK: %v\nbroker:\n%s", n, answers["code 0"], answers, b.Stderr())
	}
	if open := rawmqtt.StillOpen(conns, 3*time.Second); open != 1 {
		t.Errorf("%d of %d connections are still open, want 1: each one is taken over by the next", open, n)
	}
}

// After 10 failed logins from one address within 10 s the broker refuses
// that address for 10 s, cheaply, even with the right password, and says
// so once in its log; then lets it in again. It does not run in parallel:
// its 200 refused attempts must fit in the 10 s block, which the load of
// other tests could stretch.
func TestBrokerBlocksFailedLogins(t *testing.T) {
	b := startBrokerProcess(t, "--users", brokerUsers(t))
	try := func(pass string) byte {
		t.Helper()
		c, rc, err := rawmqtt.Connect(b.Addr, rawmqtt.ConnectOptions{ID: "dev-1", User: "dev-1", Password: pass}, 30*time.Second)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		c.Close()
		return rc
	}
	if rc := try("dev-pw"); rc != rawmqtt.Accepted {
		t.Fatalf("the right password: code %d", rc)
	}
	for i := range 10 {
		if rc := try(fmt.Sprint("guess-", i)); rc != rawmqtt.NotAuthorized {
			t.Fatalf("wrong password %d: code %d", i+1, rc)
		}
	}
	blocked := time.Now()
	before := b.CPU()
	const attempts = 200
	for i := range attempts {
		pass := fmt.Sprint("guess-more-", i)
		if i%2 == 0 {
			pass = "dev-pw"
		}
		if rc := try(pass); rc != rawmqtt.NotAuthorized {
			t.Fatalf("attempt %d from a refused address: code %d", i, rc)
		}
	}
	if per := (b.CPU() - before) / attempts; per > 5*time.Millisecond {
		t.Errorf("a refused login costs the broker %v of processor time, want under 5ms (a password hash costs about 20ms)", per)
	}
	if n := strings.Count(b.Stderr(), "refusing 127.0.0.1 for 10s after 10 failed logins"); n != 1 {
		t.Errorf("the refusal is in the broker's log %d times, want once:\n%s", n, b.Stderr())
	}
	time.Sleep(time.Until(blocked.Add(10*time.Second + 500*time.Millisecond)))
	if rc := try("dev-pw"); rc != rawmqtt.Accepted {
		t.Errorf("still refused after 10s: code %d", rc)
	}
}
