package doctor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	. "github.com/otactl/otactl/doctor"
	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/upload"
)

// doctor runs every check against url and the endpoints, with short
// waits so that failing checks fail quickly.
func doctor(t *testing.T, o Options, url string, endpoints ...string) Report {
	t.Helper()
	if o.Connect.Timeout == 0 {
		o.Connect.Timeout = 3 * time.Second
	}
	o.Connect.Broker, o.Endpoints = url, endpoints
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		t.Logf("%-5v %-11s %s: %s", c.OK, c.Name, c.Endpoint, c.Detail)
	}
	return rep
}

// check is the check called name on endpoint, failing the test when
// there is none.
func check(t *testing.T, rep Report, name, endpoint string) Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name && c.Endpoint == endpoint {
			return c
		}
	}
	t.Fatalf("no %s check of %s in %+v", name, endpoint, rep.Checks)
	return Check{}
}

// nothingLeft fails the test when a doctor probe is still retained.
func nothingLeft(t *testing.T, url string) {
	t.Helper()
	c, err := upload.Connect(context.Background(), upload.Options{Broker: url})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var left []string
	if err := c.ReadRetainedAll(context.Background(), ".u/doctor/#", func(topic string, _ []byte) { left = append(left, topic) }); err != nil || len(left) > 0 {
		t.Fatalf("left behind on %s: %q (%v)", url, left, err)
	}
}

// TestDoctorPasses: a broker that has all otactl needs passes every check,
// in order, with the expiry unknown, and keeps nothing afterwards.
func TestDoctorPasses(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		rep := doctor(t, Options{Need: 256 << 10}, b.URL)
		if !rep.OK || len(rep.Failed()) != 0 {
			t.Fatalf("failed: %+v", rep.Failed())
		}
		var names []string
		for _, c := range rep.Checks {
			names = append(names, c.Name)
			if c.Endpoint != b.URL {
				t.Errorf("endpoint %q", c.Endpoint)
			}
		}
		if got := strings.Join(names, " "); got != "connect topics retained wildcard size expiry" {
			t.Fatalf("checks %s", got)
		}
		if c := check(t, rep, CheckSize, b.URL); c.Bytes != 256<<10 {
			t.Errorf("size %+v", c)
		}
		if c := check(t, rep, CheckExpiry, b.URL); !c.Unknown || !strings.HasPrefix(c.Detail, "unknown: ") {
			t.Errorf("expiry %+v", c)
		}
		nothingLeft(t, b.URL)
	})
}

// TestDoctorNamesQuirks: a broker that does not deliver retained
// messages to wildcard subscriptions, or that rewrites topics, fails the
// check that names it.
func TestDoctorNamesQuirks(t *testing.T) {
	nowild := testbroker.Quirky(t, testbroker.Quirks{NoRetainedToWildcards: true})
	rep := doctor(t, Options{}, nowild.URL)
	if f := rep.Failed(); rep.OK || len(f) != 1 || f[0].Name != CheckWildcard ||
		!strings.Contains(f[0].Detail, "not delivered to wildcard subscriptions") || f[0].Hint == "" {
		t.Fatalf("no wildcard delivery: failed %+v", f)
	}

	rewrite := testbroker.Quirky(t, testbroker.Quirks{RewriteDots: true})
	rep = doctor(t, Options{}, rewrite.URL)
	f := rep.Failed()
	if rep.OK || len(f) != 1 || f[0].Name != CheckTopics || !strings.Contains(f[0].Detail, "topics are rewritten: ") ||
		!strings.Contains(f[0].Detail, "topics/main@1.2.3 arrives as /u/doctor/") {
		t.Fatalf("rewritten topics: failed %+v", f)
	}
}

// TestDoctorSize: mosquitto with a 64 KiB message_size_limit (which it
// acknowledges and drops above) keeps about 64 KiB: --need 32 KiB
// passes, 1 MiB fails with the size found and the --block-size hint.
func TestDoctorSize(t *testing.T) {
	b := testbroker.Mosquitto(t, mosquitto.Config{MessageSizeLimit: 64 << 10})
	o := Options{Need: 1 << 20, Connect: upload.Options{ReadBackWait: 300 * time.Millisecond}}
	rep := doctor(t, o, b.URL)
	c := check(t, rep, CheckSize, b.URL)
	if rep.OK || c.OK || c.Bytes < 60<<10 || c.Bytes > 64<<10 || !strings.Contains(c.Detail, "below the 1.0 MiB needed") ||
		!strings.Contains(c.Hint, "larger artifacts need --block-size") {
		t.Fatalf("need 1 MiB: %+v", c)
	}
	if f := rep.Failed(); len(f) != 1 {
		t.Fatalf("failed %+v", f)
	}
	o.Need = 32 << 10
	if rep := doctor(t, o, b.URL); !rep.OK || check(t, rep, CheckSize, b.URL).Bytes != 32<<10 {
		t.Fatalf("need 32 KiB: %+v", rep.Failed())
	}
	nothingLeft(t, b.URL)
}

// TestDoctorSizeNothingKept: mosquitto with a 1000-byte
// message_size_limit keeps no retained message of 1 KiB, the size of a
// signed manifest: the size check fails even without --need.
func TestDoctorSizeNothingKept(t *testing.T) {
	b := testbroker.Mosquitto(t, mosquitto.Config{MessageSizeLimit: 1000})
	rep := doctor(t, Options{Connect: upload.Options{ReadBackWait: 300 * time.Millisecond}}, b.URL)
	c := check(t, rep, CheckSize, b.URL)
	if rep.OK || c.OK || c.Bytes != 0 || !strings.Contains(c.Detail, "keeps no retained message of 1.0 KiB") ||
		!strings.Contains(c.Hint, "raise the broker's limit") {
		t.Fatalf("size check: %+v", c)
	}
	if f := rep.Failed(); len(f) != 1 {
		t.Fatalf("failed %+v", f)
	}
	nothingLeft(t, b.URL)
}

// TestDoctorEndpoints: every endpoint is checked; one that cannot be
// reached fails its connect check and its propagation is not measured;
// between two brokers that share nothing, propagation fails.
func TestDoctorEndpoints(t *testing.T) {
	a := testbroker.Embedded(t, broker.Config{})
	other := testbroker.Embedded(t, broker.Config{})
	down := testbroker.Silent(t)
	rep := doctor(t, Options{PropagationTimeout: time.Second, Connect: upload.Options{Timeout: time.Second}}, a.URL, other.URL, down)
	if c := check(t, rep, CheckConnect, down); c.OK || c.Hint == "" {
		t.Errorf("silent endpoint: %+v", c)
	}
	if c := check(t, rep, CheckWildcard, other.URL); !c.OK {
		t.Errorf("the other endpoint is checked too: %+v", c)
	}
	if c := check(t, rep, CheckPropagation, other.URL); c.OK || !strings.Contains(c.Detail, "are not served here after 1s") {
		t.Errorf("propagation: %+v", c)
	}
	for _, c := range rep.Checks {
		if c.Name == CheckPropagation && c.Endpoint == down {
			t.Errorf("propagation to an endpoint that did not connect: %+v", c)
		}
	}
	if rep.OK || len(rep.Failed()) != 2 {
		t.Fatalf("failed %+v", rep.Failed())
	}
}

// TestDoctorKeepsTheClientID: a device user of 'otactl broker --users'
// may connect only with its own name as client id; doctor connects with
// the --client-id given (it replaced it, and then blamed the password).
func TestDoctorKeepsTheClientID(t *testing.T) {
	hash, err := broker.HashPassword([]byte("pw"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	users, err := broker.ParseUsers(strings.NewReader(broker.FormatUser("dev1", broker.RoleDevice, "", hash) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := testbroker.Embedded(t, broker.Config{Users: users})
	rep := doctor(t, Options{Connect: upload.Options{Username: "dev1", Password: "pw", ClientID: "dev1"}}, b.URL)
	if c := check(t, rep, CheckConnect, b.URL); !c.OK {
		t.Errorf("connect as dev1 with client id dev1: %+v", c)
	}
}
