package profile

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/hint"
)

// env is an environment with a config file in a fresh folder.
func env(t *testing.T, vars map[string]string) func(string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	return func(k string) string {
		if k == "OTACTL_CONFIG" {
			return path
		}
		return vars[k]
	}
}

func setProfile(t *testing.T, getenv func(string) string, name string, kv ...string) {
	t.Helper()
	_, err := Edit(getenv, name, true, func(p *Profile) error {
		for i := 0; i < len(kv); i += 2 {
			if err := p.Set(kv[i], kv[i+1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestResolvePrecedence: flag, else environment, else profile, else the
// default; another broker drops the profile's whole connection.
func TestResolvePrecedence(t *testing.T) {
	getenv := env(t, map[string]string{"OTACTL_USERNAME": "env-user"})
	setProfile(t, getenv, "prod", "broker", "mqtt://prod:1883", "username", "ops", "client-id", "prod-id", "topic-prefix", "acme/", "timeout", "7s")

	cn, err := Resolve(Flags{Profile: "prod"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	u := cn.Options
	if cn.ProfileName != "prod" || u.Broker != "mqtt://prod:1883" || u.Username != "env-user" || u.ClientID != "prod-id" ||
		u.TopicPrefix != "acme/" || u.Timeout != 7*time.Second {
		t.Errorf("profile and env: %+v", u)
	}

	cn, err = Resolve(Flags{Profile: "prod", Broker: "mqtt://other:1884", Username: "flag-user", Timeout: time.Second,
		Given: map[string]bool{"broker": true, "username": true, "timeout": true}}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	u = cn.Options
	if u.Broker != "mqtt://other:1884" || u.Username != "flag-user" || u.ClientID != "" || u.TopicPrefix != "acme/" || u.Timeout != time.Second {
		t.Errorf("another broker must drop the profile's connection but keep its prefix: %+v", u)
	}

	cn, err = Resolve(Flags{}, env(t, nil))
	if err != nil || cn.ProfileName != DefaultName || cn.Options.Broker != "mqtt://localhost:1883" {
		t.Errorf("defaults: %+v, %v", cn, err)
	}
}

// TestResolveRefusals: a bad value from a flag is a FlagError (a usage
// error); from the environment or the file it is not, and it names where
// it came from.
func TestResolveRefusals(t *testing.T) {
	getenv := env(t, map[string]string{"OTACTL_BROKER": "ftp://x"})
	for _, tt := range []struct {
		flags  Flags
		getenv func(string) string
		want   string
		flag   bool
	}{
		{Flags{Broker: " ", Given: map[string]bool{"broker": true}}, env(t, nil), "--broker is empty", true},
		{Flags{Broker: "http://x", Given: map[string]bool{"broker": true}}, env(t, nil), "--broker: ", true},
		{Flags{Timeout: -time.Second, Given: map[string]bool{"timeout": true}}, env(t, nil), "--broker-timeout must be positive", true},
		{Flags{TopicPrefix: "a/#", Given: map[string]bool{"topic-prefix": true}}, env(t, nil), "--topic-prefix: ", true},
		{Flags{}, getenv, "OTACTL_BROKER: ", false},
		{Flags{Profile: "nosuch"}, env(t, nil), `profile "nosuch" does not exist`, true},
		{Flags{}, env(t, map[string]string{"OTACTL_PROFILE": "nosuch"}), `profile "nosuch" does not exist`, false},
	} {
		_, err := Resolve(tt.flags, tt.getenv)
		var fe *FlagError
		if err == nil || !strings.Contains(err.Error(), tt.want) || errors.As(err, &fe) != tt.flag {
			t.Errorf("Resolve(%+v) = %v, want %q (flag error %v)", tt.flags, err, tt.want, tt.flag)
		}
	}
}

// TestResolveChecksTheFile: a hand-edited profile otactl cannot use is
// refused with the setting named and a hint to fix it.
func TestResolveChecksTheFile(t *testing.T) {
	getenv := env(t, nil)
	setProfile(t, getenv, "x")
	if _, err := Edit(getenv, "x", false, func(p *Profile) error { p.Broker = "gopher://x"; return nil }); err != nil {
		t.Fatal(err)
	}
	_, err := Resolve(Flags{Profile: "x"}, getenv)
	if err == nil || !strings.Contains(err.Error(), `profile "x"`) || !strings.Contains(hint.Of(err), "config set broker VALUE --profile x") {
		t.Errorf("Resolve with a bad file = %v (hint %q)", err, hint.Of(err))
	}
}

// TestUseAndDelete: use and delete name an existing profile.
func TestUseAndDelete(t *testing.T) {
	getenv := env(t, nil)
	if err := Use(getenv, "prod"); err == nil || !strings.Contains(hint.Of(err), "--profile prod") {
		t.Errorf("Use of a missing profile = %v", err)
	}
	setProfile(t, getenv, "prod", "broker", "mqtt://prod:1883")
	if err := Use(getenv, "prod"); err != nil {
		t.Fatal(err)
	}
	if _, name, _, err := LoadActive(getenv, ""); err != nil || name != "prod" {
		t.Errorf("after Use: %q, %v", name, err)
	}
	if err := Delete(getenv, "prod"); err != nil {
		t.Fatal(err)
	}
	if _, name, _, err := LoadActive(getenv, ""); err != nil || name != DefaultName {
		t.Errorf("after Delete: %q, %v", name, err)
	}
	if err := Delete(getenv, "prod"); err == nil {
		t.Error("Delete of a missing profile succeeded")
	}
}

func TestRefuseSecret(t *testing.T) {
	if err := RefuseSecret("broker", "mqtt://h"); err != nil {
		t.Errorf("a plain setting refused: %v", err)
	}
	if err := RefuseSecret("password", "x"); err == nil || !strings.Contains(hint.Of(err), "otactl login") {
		t.Errorf("password setting: %v", err)
	}
	pem := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFhz9WmIvq3Zp0sK\n-----END PRIVATE KEY-----\n"
	if err := RefuseSecret("pubkey", pem); err == nil || strings.Contains(err.Error(), "MC4C") {
		t.Errorf("key material: %v", err)
	}
}

// TestResolveReadBackWait: --read-back-wait beats the profile's
// read-back-wait; 0 means read once (upload's -1); unset leaves upload's
// default.
func TestResolveReadBackWait(t *testing.T) {
	getenv := env(t, nil)
	if c, err := Resolve(Flags{}, getenv); err != nil || c.Options.ReadBackWait != 0 {
		t.Fatalf("unset: %v, %v", c.Options.ReadBackWait, err)
	}
	setProfile(t, getenv, "default", "read-back-wait", "5s")
	for _, tc := range []struct {
		flags Flags
		want  time.Duration
	}{
		{Flags{}, 5 * time.Second},
		{Flags{ReadBackWait: 10 * time.Second, Given: map[string]bool{"read-back-wait": true}}, 10 * time.Second},
		{Flags{Given: map[string]bool{"read-back-wait": true}}, -1},
	} {
		if c, err := Resolve(tc.flags, getenv); err != nil || c.Options.ReadBackWait != tc.want {
			t.Errorf("%+v: %v, %v; want %v", tc.flags, c.Options.ReadBackWait, err, tc.want)
		}
	}
	if _, err := Resolve(Flags{ReadBackWait: -time.Second, Given: map[string]bool{"read-back-wait": true}}, getenv); err == nil {
		t.Error("a negative --read-back-wait was taken")
	}
	if err := (&Profile{}).Set("read-back-wait", "-1s"); err == nil {
		t.Error("a negative read-back-wait setting was taken")
	}
}
