package broker

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/syncbuf"

	"github.com/otactl/otactl/internal/rawmqtt"
)

func testLogger(buf *syncbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// slowDevice is a users file of one device, dev-1 with the password
// dev-pw, hashed at the default, deliberately slow, cost.
func slowDevice(t *testing.T) *Users {
	t.Helper()
	hash, err := HashPassword([]byte("dev-pw"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return usersFor(t, FormatUser("dev-1", RoleDevice, "", hash))
}

// All of many parallel connects of one device with the right password get
// a successful CONNACK, each taking over the session of the one before, as
// MQTT says; with the default, deliberately slow password hash.
func TestParallelConnectsOfOneDevice(t *testing.T) {
	users := slowDevice(t)
	b := startBroker(t, Config{Users: users})
	const n = 400
	conns, got := rawmqtt.ConnectAll(n, b.Addr(), func(int) rawmqtt.ConnectOptions {
		return rawmqtt.ConnectOptions{ID: "dev-1", User: "dev-1", Password: "dev-pw"}
	}, testWait)
	// Stay connected until taken over, as a device does.
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if got["code 0"] != n {
		t.Fatalf("of %d parallel connects of one device, %d got a successful CONNACK; the others: %v", n, got["code 0"], got)
	}

	// Each was taken over by the next: all but one are closed by the
	// broker, and that one still works.
	if alive := rawmqtt.StillOpen(conns, 3*time.Second); alive != 1 {
		t.Errorf("%d of the %d connections are still open, want only the last one", alive, n)
	}
}

// After failedLoginLimit failed logins from one address within
// failedLoginWindow, that address is refused for failedLoginBlock, even with
// the right password, without running the slow hash; the log says so once.
func TestFailedLoginsBlockAddress(t *testing.T) {
	users := usersFor(t, FormatUser("dev-1", RoleDevice, "", hashOf(t, "dev-pw")))
	var log syncbuf.Buffer
	b := startBroker(t, Config{Users: users, Logger: testLogger(&log)})
	now := time.Now()
	var clockMu sync.Mutex
	b.logins.now = func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		clockMu.Lock()
		now = now.Add(d)
		clockMu.Unlock()
	}
	try := func(pass string) byte {
		t.Helper()
		c, rc, err := rawmqtt.Connect(b.Addr(), rawmqtt.ConnectOptions{ID: "dev-1", User: "dev-1", Password: pass}, testWait)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		c.Close()
		return rc
	}

	if rc := try("dev-pw"); rc != 0 {
		t.Fatalf("right password refused before any failure: code %d", rc)
	}
	for i := range failedLoginLimit - 1 {
		if rc := try("wrong"); rc != rawmqtt.NotAuthorized {
			t.Fatalf("wrong password %d: code %d, want 5", i+1, rc)
		}
	}
	advance(failedLoginWindow / 2)
	if rc := try("dev-pw"); rc != 0 {
		t.Fatalf("right password refused after %d failures: code %d", failedLoginLimit-1, rc)
	}
	if rc := try("wrong"); rc != rawmqtt.NotAuthorized {
		t.Fatalf("failure %d: code %d, want 5", failedLoginLimit, rc)
	}
	slow := users.slowChecks.Load()
	for range 50 {
		if rc := try("dev-pw"); rc != rawmqtt.NotAuthorized {
			t.Fatalf("a blocked address got code %d, want 5", rc)
		}
		if rc := try("wrong"); rc != rawmqtt.NotAuthorized {
			t.Fatalf("a blocked address got code %d, want 5", rc)
		}
	}
	if d := users.slowChecks.Load() - slow; d != 0 {
		t.Errorf("refusing a blocked address ran the password hash %d times", d)
	}
	want := "refusing 127.0.0.1 for 10s after 10 failed logins"
	if got := strings.Count(log.String(), want); got != 1 {
		t.Errorf("log has %q %d times, want once:\n%s", want, got, log.String())
	}

	advance(failedLoginBlock - time.Second)
	if rc := try("dev-pw"); rc != rawmqtt.NotAuthorized {
		t.Fatalf("refused for less than %v: code %d", failedLoginBlock, rc)
	}
	advance(time.Second)
	if rc := try("dev-pw"); rc != 0 {
		t.Fatalf("still refused after %v: code %d", failedLoginBlock, rc)
	}
}

// Failures spread wider than the window never block.
func TestFailedLoginsOutsideWindow(t *testing.T) {
	l := newLoginLimiter(slog.New(slog.DiscardHandler))
	now := time.Now()
	l.now = func() time.Time { return now }
	for range 5 * failedLoginLimit {
		if !l.allow("192.0.2.1:1000") {
			t.Fatal("blocked by failures older than the window")
		}
		l.failed("192.0.2.1:1000")
		now = now.Add(failedLoginWindow/(failedLoginLimit-1) + time.Millisecond)
	}
	for range failedLoginLimit {
		l.failed("192.0.2.2:1")
	}
	if l.allow("192.0.2.2:2") != false {
		t.Error("an address is not blocked after its port changed")
	}
	if !l.allow("192.0.2.1:1") {
		t.Error("another address was blocked too")
	}
}

// A flood of wrong passwords in parallel from one address runs the slow
// password hash only until the address is refused: at most the limit, plus
// the hashes already running when it was reached.
func TestWrongPasswordFloodIsCheap(t *testing.T) {
	users := slowDevice(t)
	var log syncbuf.Buffer
	b := startBroker(t, Config{Users: users, Logger: testLogger(&log)})
	const n = 400
	conns, got := rawmqtt.ConnectAll(n, b.Addr(), func(i int) rawmqtt.ConnectOptions {
		return rawmqtt.ConnectOptions{ID: "dev-1", User: "dev-1", Password: fmt.Sprint("guess-", i)}
	}, testWait)
	for _, c := range conns {
		c.Close()
	}
	if got[fmt.Sprint("code ", rawmqtt.NotAuthorized)] != n {
		t.Errorf("answers to %d wrong passwords: %v", n, got)
	}
	if slow, most := users.slowChecks.Load(), int64(failedLoginLimit+cap(users.slow)); slow > most {
		t.Errorf("%d wrong passwords ran the password hash %d times, want at most %d", n, slow, most)
	}
	if c := strings.Count(log.String(), "after 10 failed logins"); c != 1 {
		t.Errorf("the refusal is logged %d times, want once:\n%s", c, log.String())
	}
	if c := strings.Count(log.String(), "bad user name or password"); c > failedLoginLimit+cap(users.slow) {
		t.Errorf("%d wrong passwords are logged one by one though most were refused unchecked", c)
	}
}

// Logins with one password at once share one slow check, and a verified
// password is remembered for verifiedTTL only.
func TestAuthenticateSharesAndForgets(t *testing.T) {
	u := usersFor(t, FormatUser("dev-1", RoleDevice, "", hashOf(t, "pw")))
	now := time.Now()
	var mu sync.Mutex
	u.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok := u.Authenticate("dev-1", []byte("pw")); !ok {
				t.Error("right password refused")
			}
		}()
	}
	wg.Wait()
	if n := u.slowChecks.Load(); n != 1 {
		t.Errorf("50 logins with one password ran %d slow checks, want 1", n)
	}
	if _, ok := u.Authenticate("dev-1", []byte("px")); ok {
		t.Error("wrong password accepted after the right one was cached")
	}
	mu.Lock()
	now = now.Add(verifiedTTL)
	mu.Unlock()
	before := u.slowChecks.Load()
	if _, ok := u.Authenticate("dev-1", []byte("pw")); !ok {
		t.Error("right password refused after the cache expired")
	}
	if u.slowChecks.Load() != before+1 {
		t.Error("a password verified verifiedTTL ago was not checked again")
	}
}
