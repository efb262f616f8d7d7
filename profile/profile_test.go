package profile

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/hint"
)

// TestEveryKeySetGetUnset: each key set alone is the one setting Get
// reports, with its value, and Unset leaves the profile empty again.
func TestEveryKeySetGetUnset(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.pem")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	values := map[string]string{
		"broker": "mqtts://b.example", "username": "ci", "client-id": "otactl-ci",
		"ca-file": file, "cert-file": file, "key-file": file, "insecure": "true",
		"topic-prefix": "acme/", "timeout": "45s", "read-back-wait": "5s", "max-payload": "131072", "block-size": "65536",
		"require-signatures": "true", "pubkey": "release-key", "root-pubkey": "root-key", "threshold": "2",
		"encoding": "cbor", "strict": "true", "pkcs11-module": file, "signer-pubkey": "release-key",
		"verify-brokers": "mqtt://edge.example:1883",
	}
	for _, k := range Keys {
		p := &Profile{}
		if err := p.Set(k, values[k]); err != nil {
			t.Fatalf("Set(%s): %v", k, err)
		}
		if got := p.Settings(); !reflect.DeepEqual(got, [][2]string{{k, values[k]}}) {
			t.Errorf("after Set(%s, %q): settings %q", k, values[k], got)
		}
		if err := p.Unset(k); err != nil {
			t.Fatalf("Unset(%s): %v", k, err)
		}
		if !reflect.DeepEqual(*p, Profile{}) {
			t.Errorf("after Unset(%s): %+v", k, *p)
		}
		if v, set, err := p.Get(k); v != "" && v != "false" && v != "0" || set || err != nil {
			t.Errorf("Get(%s) after Unset = %q, %v, %v", k, v, set, err)
		}
	}
	for _, f := range []func(*Profile) error{
		func(p *Profile) error { return p.Set("colour", "red") },
		func(p *Profile) error { return p.Unset("colour") },
		func(p *Profile) error { _, _, err := p.Get("colour"); return err },
	} {
		if err := f(&Profile{}); err == nil || !strings.Contains(err.Error(), `unknown setting "colour"`) {
			t.Errorf("unknown key: %v", err)
		}
	}
}

func TestSetGetSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otactl", "config.json")
	f, err := Load(path)
	if err != nil || len(f.Profiles) != 0 {
		t.Fatalf("Load of a missing file = %v, %v", f, err)
	}
	p, err := f.Ensure("prod")
	if err != nil {
		t.Fatal(err)
	}
	// Files must exist; a relative one is kept absolute.
	t.Chdir(t.TempDir())
	if err := os.WriteFile("ca.pem", []byte("ca"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"broker": "mqtts://broker.example", "username": "ci", "topic-prefix": "",
		"timeout": "45s", "max-payload": "128k", "require-signatures": "true",
		"pubkey": "release-key,env:PUB", "threshold": "1", "ca-file": "ca.pem",
	} {
		if err := p.Set(k, v); err != nil {
			t.Fatalf("Set(%s): %v", k, err)
		}
	}
	f.Current = "prod"
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file mode: %v %v", st, err)
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	q, ok := g.Get(g.Active(""))
	if !ok {
		t.Fatal("profile prod lost")
	}
	want := map[string]string{
		"broker": "mqtts://broker.example", "username": "ci", "topic-prefix": "", "timeout": "45s",
		"max-payload": "131072", "require-signatures": "true", "pubkey": "release-key,env:PUB", "threshold": "1",
	}
	for k, v := range want {
		got, set, err := q.Get(k)
		if err != nil || !set || got != v {
			t.Errorf("Get(%s) = %q, %v, %v; want %q", k, got, set, err, v)
		}
	}
	if ca, _, _ := q.Get("ca-file"); !filepath.IsAbs(ca) {
		t.Errorf("ca-file %q kept relative", ca)
	}
	if _, set, _ := q.Get("client-id"); set {
		t.Error("client-id set")
	}
	if err := q.Unset("topic-prefix"); err != nil {
		t.Fatal(err)
	}
	if _, set, _ := q.Get("topic-prefix"); set {
		t.Error("topic-prefix still set after Unset")
	}
	if g.Active("other") != "other" || (&File{}).Active("") != DefaultName {
		t.Error("Active picks the wrong profile")
	}
}

func TestSetRefuses(t *testing.T) {
	p := &Profile{}
	for k, v := range map[string]string{
		"broker": "mqtt://user:pw@h", "timeout": "soon", "max-payload": "-1",
		"insecure": "maybe", "threshold": "-2", "nope": "x",
	} {
		if err := p.Set(k, v); err == nil {
			t.Errorf("Set(%s, %q) accepted", k, v)
		}
	}
	for _, bad := range []string{"", ".x", "-x", "a/b", strings.Repeat("a", 65)} {
		if ValidateName(bad) == nil {
			t.Errorf("ValidateName(%q) accepted", bad)
		}
	}
}

func TestLoadRefusesDamage(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"unknown.json": `{"profiles":{"a":{"brokr":"x"}}}`,
		"badname.json": `{"profiles":{"a/b":{}}}`,
		"notjson.json": `broker = x`,
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(content), 0o600)
		if _, err := Load(path); err == nil {
			t.Errorf("Load(%s) accepted", name)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"131072": 131072, "128k": 131072, "128KiB": 131072, "16M": 16 << 20, "1GB": 1 << 30, "64 MiB": 64 << 20, "10b": 10} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-5", "1.5M", "lots", "9999999999999G"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	env := map[string]string{"HOME": "/home/u"}
	get := func(k string) string { return env[k] }
	if p, _ := DefaultPath(get); p != "/home/u/.config/otactl/config.json" {
		t.Errorf("DefaultPath = %q", p)
	}
	env["XDG_CONFIG_HOME"] = "/x"
	if p, _ := DefaultPath(get); p != "/x/otactl/config.json" {
		t.Errorf("DefaultPath with XDG = %q", p)
	}
	env["OTACTL_CONFIG"] = "/etc/otactl.json"
	if p, _ := DefaultPath(get); p != "/etc/otactl.json" {
		t.Errorf("DefaultPath with OTACTL_CONFIG = %q", p)
	}
}

// TestLoadCorruptHints: a config file that is not JSON is named, with a
// hint to fix it or move it away (every command reads it).
func TestLoadCorruptHints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte("current = default\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(hint.Of(err), "move it away") {
		t.Fatalf("%v (hint %q)", err, hint.Of(err))
	}
}
