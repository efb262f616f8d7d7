package profile

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestVerifyBrokersPrecedence: --verify-broker, else
// OTACTL_VERIFY_BROKERS, else the profile's verify-brokers, which a broker
// from flag or environment drops with the rest of the profile's
// connection. Each is normalised and kept once, without the connection's
// own broker.
func TestVerifyBrokersPrecedence(t *testing.T) {
	vars := map[string]string{}
	getenv := env(t, vars)
	setProfile(t, getenv, "prod", "broker", "mqtt://a:1883", "username", "ops", "ca-file", "profile.go",
		"verify-brokers", "b:1883, mqtt://c", "verify-brokers", "mqtt://a:1883,mqtt://b:1883")

	resolve := func(fl Flags) string {
		t.Helper()
		fl.Profile = "prod"
		cn, err := Resolve(fl, getenv)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range cn.Endpoints() {
			got = append(got, o.Broker+" "+o.Username+" "+fmt.Sprint(o.CAFile != ""))
		}
		return strings.Join(got, ", ")
	}
	if got := resolve(Flags{}); got != "mqtt://a:1883 ops true, mqtt://b:1883 ops true, mqtt://c:1883 ops true" {
		t.Errorf("profile: %s", got)
	}
	vars["OTACTL_VERIFY_BROKERS"] = "mqtt://d:1883,,e:1884"
	if got := resolve(Flags{}); got != "mqtt://a:1883 ops true, mqtt://d:1883 ops true, mqtt://e:1884 ops true" {
		t.Errorf("env: %s", got)
	}
	if got := resolve(Flags{VerifyBrokers: []string{"f", "f:1883"}, Given: map[string]bool{"verify-broker": true}}); got != "mqtt://a:1883 ops true, mqtt://f:1883 ops true" {
		t.Errorf("flag: %s", got)
	}
	delete(vars, "OTACTL_VERIFY_BROKERS")
	if got := resolve(Flags{Broker: "mqtt://z:1883", Given: map[string]bool{"broker": true}}); got != "mqtt://z:1883  false" {
		t.Errorf("another broker: %s", got)
	}
}

// TestVerifyBrokersRefuseCredentials: a URL with a password is refused
// without repeating it, by config set and by the flag (a usage error).
func TestVerifyBrokersRefuseCredentials(t *testing.T) {
	p := &Profile{}
	err := p.Set("verify-brokers", "mqtt://u:s3cret@b:1883")
	if err == nil || strings.Contains(err.Error(), "s3cret") || len(p.VerifyBrokers) != 0 {
		t.Fatalf("set: %v", err)
	}
	if err := p.Set("verify-brokers", " , "); err == nil {
		t.Fatal("empty list taken")
	}
	getenv := env(t, nil)
	_, err = Resolve(Flags{VerifyBrokers: []string{"mqtt://u:s3cret@b:1883"}, Given: map[string]bool{"verify-broker": true}}, getenv)
	var fe *FlagError
	if !errors.As(err, &fe) || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "--verify-broker") {
		t.Fatalf("flag: %v", err)
	}
	bad := &Profile{VerifyBrokers: []string{"http://x"}}
	if err := bad.Check(); err == nil || !strings.Contains(err.Error(), "verify-brokers") {
		t.Fatalf("check: %v", err)
	}
}

// TestVerifyBrokersSetting: config set adds, get lists, unset clears.
func TestVerifyBrokersSetting(t *testing.T) {
	p := &Profile{}
	for _, v := range []string{"mqtt://b:1883", "mqtt://c:1883,mqtt://b:1883"} {
		if err := p.Set("verify-brokers", v); err != nil {
			t.Fatal(err)
		}
	}
	if v, ok, err := p.Get("verify-brokers"); v != "mqtt://b:1883,mqtt://c:1883" || !ok || err != nil {
		t.Errorf("get %q %v %v", v, ok, err)
	}
	if err := p.Unset("verify-brokers"); err != nil || len(p.VerifyBrokers) != 0 {
		t.Errorf("unset: %v %v", err, p.VerifyBrokers)
	}
}
