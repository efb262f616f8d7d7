package testbroker

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/testsecrets"
	"github.com/otactl/otactl/upload"
)

// TestAllPublish publishes on every broker as a device would and reads
// the message back with otactl's client; an empty payload clears it.
func TestAllPublish(t *testing.T) {
	brokers := All(t)
	if len(brokers) == 0 || brokers[0].Name != KindEmbedded || brokers[0].Embedded == nil {
		t.Fatalf("All starts %d brokers, the first %+v: want the embedded one first", len(brokers), brokers[0])
	}
	for _, b := range brokers {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			if !strings.HasPrefix(b.URL, "mqtt://127.0.0.1:") || b.URL != "mqtt://"+b.Addr {
				t.Fatalf("URL %q, Addr %q", b.URL, b.Addr)
			}
			if (b.Name == KindMosquitto) != (b.Mosquitto != nil) {
				t.Fatalf("%s broker with Mosquitto %v", b.Name, b.Mosquitto)
			}
			c, err := upload.Connect(context.Background(), upload.Options{Broker: b.URL, Timeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			const topic = "devices/d1/.u/c/main"
			b.Publish(t, topic, []byte(`{"s":0,"r":0,"v":"1.0.0"}`))
			got, found, err := c.ReadRetained(context.Background(), topic)
			if err != nil || !found || string(got) != `{"s":0,"r":0,"v":"1.0.0"}` {
				t.Fatalf("read back %q, found %v, %v", got, found, err)
			}
			b.Publish(t, topic, nil)
			if _, found, err := c.ReadRetained(context.Background(), topic); err != nil || found {
				t.Fatalf("after clearing: found %v, %v", found, err)
			}
		})
	}
}

// recordingTB is a testing.TB whose errors and cleanups are kept for the
// test to look at and run.
type recordingTB struct {
	testing.TB
	errors   []string
	cleanups []func()
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *recordingTB) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// fakeBroker is a shell standing in for `otactl broker -o json`: it
// prints its URL and a log line holding text, and exits 0 on SIGINT.
func fakeBroker(text string) *exec.Cmd {
	return exec.Command("sh", "-c", `trap 'echo "broker: stopped" >&2; exit 0' INT
echo '{"url":"mqtt://127.0.0.1:1883","auth":false}'
echo "broker: `+text+`" >&2
while :; do sleep 0.05; done`)
}

// waitForLog waits until the broker has logged want.
func waitForLog(t *testing.T, p *Proc, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(p.Stderr(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the broker did not log %q", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestProcess reads the URL the broker prints, keeps its log, stops it
// on SIGINT, and kills it when the test ends.
func TestProcess(t *testing.T) {
	p := Process(t, fakeBroker("listening"))
	if p.URL != "mqtt://127.0.0.1:1883" || p.Addr != "127.0.0.1:1883" {
		t.Fatalf("URL %q, Addr %q", p.URL, p.Addr)
	}
	waitForLog(t, p, "broker: listening")
	if cpu := p.CPU(); cpu < 0 {
		t.Errorf("CPU %v", cpu)
	}
	p.Stop()
	if !strings.Contains(p.Stderr(), "broker: stopped") {
		t.Errorf("log after SIGINT %q", p.Stderr())
	}

	// Killed when the test ends, if still running.
	rec := &recordingTB{TB: t}
	q := Process(rec, fakeBroker("running"))
	rec.end()
	select {
	case <-q.exited:
	default:
		t.Error("the broker still runs after its test ended")
	}
}

// TestProcessLogIsCheckedForSecrets: a secret a test registered that
// shows in the broker's log fails that test, by its label.
func TestProcessLogIsCheckedForSecrets(t *testing.T) {
	const secret = "broker-log-secret-4d1f"
	testsecrets.Register(t, "test password", secret)
	rec := &recordingTB{TB: t}
	p := Process(rec, fakeBroker("login of ops with "+secret))
	waitForLog(t, p, "login of ops")
	rec.end()
	if len(rec.errors) != 1 || rec.errors[0] != "secret leak: otactl broker printed test password" {
		t.Fatalf("errors %q", rec.errors)
	}
}
