package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEncodingAndStrictSettings: the settings are kept, shown, cleared
// and checked like the others.
func TestEncodingAndStrictSettings(t *testing.T) {
	p := &Profile{}
	for k, v := range map[string]string{"encoding": "cbor", "strict": "true"} {
		if err := p.Set(k, v); err != nil {
			t.Fatalf("Set(%s): %v", k, err)
		}
		if got, set, err := p.Get(k); got != v || !set || err != nil {
			t.Errorf("Get(%s) = %q, %v, %v", k, got, set, err)
		}
	}
	if got := p.Settings(); len(got) != 2 || got[0] != [2]string{"encoding", "cbor"} || got[1] != [2]string{"strict", "true"} {
		t.Errorf("Settings = %q", got)
	}
	for k, v := range map[string]string{"encoding": "xml", "strict": "sometimes"} {
		if err := p.Set(k, v); err == nil {
			t.Errorf("Set(%s, %q) accepted", k, v)
		}
	}
	for _, k := range []string{"encoding", "strict"} {
		if err := p.Unset(k); err != nil {
			t.Fatal(err)
		}
		if _, set, _ := p.Get(k); set {
			t.Errorf("%s still set after Unset", k)
		}
	}
	// A hand-edited file gets the same check.
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"profiles":{"prod":{"encoding":"CBOR"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Profiles["prod"].Check(); err == nil || !strings.Contains(err.Error(), `encoding "CBOR": want json`) {
		t.Errorf("Check = %v", err)
	}
}

// TestEncodingPrecedence: flag, else OTACTL_ENCODING, else the profile,
// else json.
func TestEncodingPrecedence(t *testing.T) {
	cbor := &Profile{Encoding: "cbor"}
	none := func(string) string { return "" }
	envJSON := func(k string) string { return map[string]string{"OTACTL_ENCODING": "json"}[k] }
	tests := []struct {
		flag   string
		getenv func(string) string
		p      *Profile
		want   string
	}{
		{"", none, nil, "json"},
		{"", none, &Profile{}, "json"},
		{"", none, cbor, "cbor"},
		{"", envJSON, cbor, "json"},
		{"cbor", envJSON, &Profile{}, "cbor"},
		{"json", none, cbor, "json"},
	}
	for i, tt := range tests {
		if got, err := Encoding(tt.flag, tt.getenv, tt.p); got != tt.want || err != nil {
			t.Errorf("%d: Encoding = %q, %v; want %q", i, got, err, tt.want)
		}
	}
	bad := func(k string) string { return map[string]string{"OTACTL_ENCODING": "cbor2"}[k] }
	if _, err := Encoding("", bad, cbor); err == nil || !strings.Contains(err.Error(), `OTACTL_ENCODING "cbor2": want json`) {
		t.Errorf("bad OTACTL_ENCODING: %v", err)
	}
}

// TestStrictPrecedence: --strict (either way), else OTACTL_STRICT, else
// the profile's strict, read from the file for commands without a
// connection.
func TestStrictPrecedence(t *testing.T) {
	yes, no := true, false
	getenv := env(t, map[string]string{})
	if s, err := Strict(nil, getenv, nil); s || err != nil {
		t.Errorf("no setting anywhere: %v, %v", s, err)
	}
	setProfile(t, getenv, "prod", "strict", "true")
	if err := Use(getenv, "prod"); err != nil {
		t.Fatal(err)
	}
	if s, err := Strict(nil, getenv, nil); !s || err != nil {
		t.Errorf("from the current profile: %v, %v", s, err)
	}
	if s, err := Strict(&no, getenv, nil); s || err != nil {
		t.Errorf("--strict=false over the profile: %v, %v", s, err)
	}
	if s, err := Strict(nil, getenv, &Profile{}); s || err != nil {
		t.Errorf("a resolved profile without strict: %v, %v", s, err)
	}
	withEnv := func(v string) func(string) string {
		return func(k string) string {
			if k == "OTACTL_STRICT" {
				return v
			}
			return getenv(k)
		}
	}
	if s, err := Strict(nil, withEnv("false"), nil); s || err != nil {
		t.Errorf("OTACTL_STRICT=false over the profile: %v, %v", s, err)
	}
	if s, err := Strict(&yes, withEnv("false"), nil); !s || err != nil {
		t.Errorf("--strict over OTACTL_STRICT=false: %v, %v", s, err)
	}
	if s, err := Strict(nil, withEnv("1"), &Profile{}); !s || err != nil {
		t.Errorf("OTACTL_STRICT=1: %v, %v", s, err)
	}
	if _, err := Strict(nil, withEnv("yes please"), nil); err == nil || !strings.Contains(err.Error(), `OTACTL_STRICT "yes please": want true or false`) {
		t.Errorf("bad OTACTL_STRICT: %v", err)
	}
}

// TestPKCS11ModuleSetting: the module must be an existing file, is kept
// as an absolute path, and is used after the flag and
// OTACTL_PKCS11_MODULE.
func TestPKCS11ModuleSetting(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libtoken.so")
	if err := os.WriteFile(lib, []byte("\x7fELF"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	p := &Profile{}
	if err := p.Set("pkcs11-module", "libtoken.so"); err != nil {
		t.Fatal(err)
	}
	if got, set, _ := p.Get("pkcs11-module"); got != lib || !set {
		t.Errorf("Get = %q, %v; want %q", got, set, lib)
	}
	if err := p.Set("pkcs11-module", "missing.so"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Set(missing.so) = %v", err)
	}
	none := func(string) string { return "" }
	env := func(k string) string { return map[string]string{"OTACTL_PKCS11_MODULE": "/env.so"}[k] }
	for _, tc := range []struct {
		flag   string
		getenv func(string) string
		want   string
	}{{"/flag.so", env, "/flag.so"}, {"", env, "/env.so"}, {"", none, lib}} {
		if got, err := PKCS11Module(tc.flag, tc.getenv, p); got != tc.want || err != nil {
			t.Errorf("PKCS11Module(%q) = %q, %v; want %q", tc.flag, got, err, tc.want)
		}
	}
	if err := p.Unset("pkcs11-module"); err != nil {
		t.Fatal(err)
	}
	if got, err := PKCS11Module("", none, p); got != "" || err != nil {
		t.Errorf("after Unset: %q, %v", got, err)
	}
}

func TestSignerPubkeyPrecedence(t *testing.T) {
	vars := map[string]string{}
	getenv := env(t, vars)
	if ref, err := SignerPubkey("", getenv, nil); ref != "" || err != nil {
		t.Errorf("no setting anywhere: %q, %v", ref, err)
	}
	setProfile(t, getenv, "prod", "signer-pubkey", "release-key")
	if err := Use(getenv, "prod"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ flag, env, want string }{
		{"", "", "release-key"},
		{"", "env:SIGNER_PUB", "env:SIGNER_PUB"},
		{"kms.der", "env:SIGNER_PUB", "kms.der"},
	} {
		vars["OTACTL_SIGNER_PUBKEY"] = c.env
		if ref, err := SignerPubkey(c.flag, getenv, nil); ref != c.want || err != nil {
			t.Errorf("flag %q, OTACTL_SIGNER_PUBKEY %q: %q, %v; want %q", c.flag, c.env, ref, err, c.want)
		}
	}
	vars["OTACTL_SIGNER_PUBKEY"] = ""
	if ref, err := SignerPubkey("", getenv, &Profile{}); ref != "" || err != nil {
		t.Errorf("a resolved profile without signer-pubkey: %q, %v", ref, err)
	}
	if err := (&Profile{}).Set("signer-pubkey", filepath.Join(t.TempDir(), "none.pub")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("signer-pubkey naming a missing file: %v", err)
	}
}
