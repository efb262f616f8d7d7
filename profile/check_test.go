package profile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// testPEM is a throwaway Ed25519 private key in PEM, made for this test.
const testPEM = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIGxQ0yyK8RZ3ocCLjTzYmK7aAjsQYI6FbD1SEc6lIhNu
-----END PRIVATE KEY-----`

const testPEMBody = "MC4CAQAwBQYDK2VwBCIEIGxQ0yyK8RZ3ocCLjTzYmK7aAjsQYI6FbD1SEc6lIhNu"

// TestSetRefusesUncheckedValues: every key refuses what otactl could not
// use, with the key in the message, and never repeats key material.
func TestSetRefusesUncheckedValues(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ key, value, want string }{
		{"timeout", "-5s", "positive duration"},
		{"timeout", "0s", "positive duration"},
		{"timeout", "", "empty"},
		{"broker", "", "empty"},
		{"username", "", "empty"},
		{"username", "a\tb", "control characters"},
		{"client-id", "", "empty"},
		{"ca-file", "", "empty"},
		{"ca-file", filepath.Join(dir, "nofile.pem"), "no such file"},
		{"cert-file", dir, "not a regular file"},
		{"key-file", fifo, "not a regular file"},
		{"max-payload", "0", "positive size"},
		{"max-payload", "", "empty"},
		{"threshold", "x", "number of signatures"},
		{"insecure", "", "empty"},
		{"require-signatures", "yes please", "true or false"},
		{"pubkey", "nofile.pub", "no such file"},
		{"pubkey", filepath.Join(dir, "keys", "release.pem"), "no such file"},
		{"pubkey", "file:" + filepath.Join(dir, "nofile"), "no such file"},
		{"pubkey", "env:1BAD", "environment variable name"},
		{"pubkey", "bad name", "keyring key name"},
		{"pubkey", ",", "no key given"},
		{"pubkey", dir, "not a regular file"},
		{"pubkey", testPEM, "key material"},
		{"username", testPEMBody, "key material"},
		{"broker", "mqtt://" + testPEMBody, "key material"},
	} {
		p := &Profile{}
		err := p.Set(tt.key, tt.value)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), tt.key) {
			t.Errorf("Set(%s, %q) = %v; want an error about %s with %q", tt.key, tt.value, err, tt.key, tt.want)
			continue
		}
		if strings.Contains(err.Error(), testPEMBody[8:40]) {
			t.Errorf("Set(%s) repeats key material: %v", tt.key, err)
		}
		if !reflect.DeepEqual(*p, Profile{}) {
			t.Errorf("Set(%s, %q) failed but changed the profile: %+v", tt.key, tt.value, p)
		}
	}
}

func TestSetPubkeyKinds(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("release.pub.pem", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Profile{}
	if err := p.Set("pubkey", "release.pub.pem, file:release.pub.pem ,env:RELEASE_PUB,release-key"); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "release.pub.pem")
	want := []string{abs, "file:" + abs, "env:RELEASE_PUB", "release-key"}
	if strings.Join(p.Pubkeys, "|") != strings.Join(want, "|") {
		t.Errorf("pubkeys = %q, want %q", p.Pubkeys, want)
	}
	if err := p.Check(); err != nil {
		t.Errorf("Check of what Set made: %v", err)
	}
}

// TestCheckFileValues: values found in a hand-edited config file are
// checked as 'config set' checks them.
func TestCheckFileValues(t *testing.T) {
	prefix := "acme/"
	for _, tt := range []struct {
		p    Profile
		key  string
		want string
	}{
		{Profile{Timeout: "-5s"}, "timeout", `timeout "-5s": want a positive duration`},
		{Profile{Timeout: "soon"}, "timeout", `timeout "soon"`},
		{Profile{MaxPayload: -1}, "max-payload", "positive size"},
		{Profile{Threshold: -2}, "threshold", "number of signatures"},
		{Profile{Username: "a\nb"}, "username", "not shown"},
		{Profile{Broker: "mqtt://u:p@h"}, "broker", "credentials"},
		{Profile{Pubkeys: []string{"relative/key.pem"}}, "pubkey", "absolute path"},
		{Profile{Pubkeys: []string{"env:"}}, "pubkey", "environment variable name"},
		{Profile{Pubkeys: []string{testPEM}}, "pubkey", "not shown"},
		{Profile{TopicPrefix: &prefix, Timeout: "0"}, "timeout", "positive duration"},
	} {
		err := tt.p.Check()
		var se *SettingError
		if !errors.As(err, &se) || se.Key != tt.key || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Check(%+v) = %v; want a %s error with %q", tt.p, err, tt.key, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), testPEMBody[8:40]) {
			t.Errorf("Check repeats key material: %v", err)
		}
	}
	good := Profile{Broker: "mqtts://h:8883", Username: "ci", Timeout: "45s", MaxPayload: 1024,
		Pubkeys: []string{"/etc/otactl/k.pem", "file:/k.pem", "env:K", "release-key"}, Threshold: 1, TopicPrefix: &prefix}
	if err := good.Check(); err != nil {
		t.Errorf("Check of a good profile: %v", err)
	}
}

func TestLooksPasted(t *testing.T) {
	for v, want := range map[string]bool{
		testPEM: true, testPEMBody: true, "mqtt://" + testPEMBody: true, "a\nb": true,
		"/tmp/TestBrokerFlagDropsProfileUser3122357853/003/ca.pem": false,
		"0123456789abcdef0123456789abcdef01234567":                 true,
		"mqtts://broker.example.com:8883":                          false,
		// An Ed25519 key's PEM body whose slashes cut it into short words.
		"MC4CAQAwBQYDK2VwBCIEIPwHsskEe/fe6iDHrdh7ZVou/5BzgLBRQVrmEMpFgA5g": true,
		"release-key": false, "30s": false, "": false,
	} {
		if got := LooksPasted(v); got != want {
			t.Errorf("LooksPasted(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestDefaultAlwaysExists(t *testing.T) {
	f := &File{Profiles: map[string]*Profile{}}
	if p, ok := f.Get(DefaultName); !ok || p == nil || len(p.Settings()) != 0 {
		t.Errorf("Get(default) on an empty file = %v, %v", p, ok)
	}
	if _, ok := f.Get("prod"); ok {
		t.Error("Get(prod) on an empty file says it exists")
	}
}

func TestConnectionKeys(t *testing.T) {
	prefix := "acme/"
	p := &Profile{Broker: "b", Username: "u", ClientID: "c", CAFile: "/ca", CertFile: "/c", KeyFile: "/k",
		Insecure: true, TopicPrefix: &prefix, Timeout: "5s", MaxPayload: 9, RequireSignatures: true, Pubkeys: []string{"k"}, Threshold: 1,
		VerifyBrokers: []string{"mqtt://edge"}}
	c := p.Connection()
	var got []string
	for _, kv := range c.Settings() {
		got = append(got, kv[0])
	}
	if strings.Join(got, ",") != strings.Join(ConnectionKeys, ",") {
		t.Errorf("Connection() keeps %v, want exactly %v", got, ConnectionKeys)
	}
}

func TestLoadRefusesBadCurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"current":"../x","profiles":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "current") {
		t.Errorf("Load with a bad current = %v", err)
	}
}
