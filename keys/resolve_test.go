package keys

import (
	"crypto"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestResolveSigner(t *testing.T) {
	dir := t.TempDir()
	fileKey, filePEM := keyPEM(t, "ecdsa-p256")
	keyFile := filepath.Join(dir, "signing.pem")
	if err := os.WriteFile(keyFile, filePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	defKey, defPEM := keyPEM(t, "ed25519")
	ciKey, ciPEM := keyPEM(t, "ed25519")
	b64Key, b64PEM := keyPEM(t, "ecdsa-p256")
	b64 := base64.StdEncoding.EncodeToString(b64PEM)
	wrapped := b64[:40] + "\n" + b64[40:] + "\n"
	env := envOf(map[string]string{
		"OTACTL_SIGNING_KEY": string(defPEM),
		"CI_KEY":             string(ciPEM),
		"B64_KEY":            b64,
		"WRAPPED_KEY":        wrapped,
		"BAD_KEY":            "hunter2-not-a-key",
		"PUB_KEY":            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
		"BLANK":              "  \n",
		"ONE_LINE":           strings.ReplaceAll(string(ciPEM), "\n", `\n`),
	})
	s := NewStore(newFakeKeyring())
	stored := generated(t, s, "laptop", "ed25519")
	storedPub, _ := s.Public("laptop")

	for _, tc := range []struct {
		ref  string
		want crypto.PublicKey
	}{
		{"file:" + keyFile, fileKey.Public()},
		{"env:", defKey.Public()},
		{"env:OTACTL_SIGNING_KEY", defKey.Public()},
		{"env:CI_KEY", ciKey.Public()},
		{"env:ONE_LINE", ciKey.Public()},
		{"env:B64_KEY", b64Key.Public()},
		{"env:WRAPPED_KEY", b64Key.Public()},
		{"laptop", storedPub},
	} {
		k, err := ResolveSigner(tc.ref, s, env)
		if err != nil {
			t.Errorf("ResolveSigner(%q): %v", tc.ref, err)
			continue
		}
		if !reflect.DeepEqual(k.Public(), tc.want) {
			t.Errorf("ResolveSigner(%q): another key", tc.ref)
		}
	}
	if stored.Name != "laptop" {
		t.Fatal(stored)
	}

	for _, tc := range []struct {
		ref, want string
		notFound  bool
	}{
		{"", "no key reference given", false},
		{"file:", "file: needs a path", false},
		{"file:" + filepath.Join(dir, "missing.pem"), "no such file: " + filepath.Join(dir, "missing.pem"), false},
		{"file:" + dir, "read signing key file " + dir + ": " + dir + ": not a regular file (directory)", false},
		{"env:NOPE", "environment variable NOPE is not set or empty", false},
		{"env:BLANK", "environment variable BLANK is not set or empty", false},
		{"env:BAD_KEY", "signing key in environment variable BAD_KEY: not a PEM private key", false},
		{"env:PUB_KEY", "signing key in environment variable PUB_KEY: PEM holds a public key, not a private key", false},
		{"env:1X", `"1X" is not an environment variable name`, false},
		{"env:A-B", `"A-B" is not an environment variable name`, false},
		{"missing", `key "missing" not found in the keyring`, true},
		{"pkcs11:token=hsm", "pkcs11 URI names no key", false},
		{"./signing.pem", `"./signing.pem" is not a key name: for a key file write file:./signing.pem`, false},
		{"bad name", `key name has ' ' at byte 4`, false},
	} {
		_, err := ResolveSigner(tc.ref, s, env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ResolveSigner(%q) = %v, want %q", tc.ref, err, tc.want)
			continue
		}
		if errors.Is(err, ErrNotFound) != tc.notFound {
			t.Errorf("ResolveSigner(%q): errors.Is(ErrNotFound) = %v", tc.ref, !tc.notFound)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ResolveSigner(%q) shows the variable's value: %v", tc.ref, err)
		}
	}

	badFile := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(badFile, []byte("hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveSigner("file:"+badFile, s, env); err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "signing key file "+badFile+": not a PEM private key") {
		t.Errorf("bad file: %v", err)
	}
	if _, err := ResolveSigner("laptop", nil, env); err == nil || !strings.Contains(err.Error(), "no keyring") {
		t.Errorf("nil store: %v", err)
	}
}

func TestResolveSignerRefusesKeyMaterial(t *testing.T) {
	_, p := keyPEM(t, "ed25519")
	body := strings.Split(string(p), "\n")[1]
	for _, ref := range []string{string(p), "file:" + string(p), "env:" + string(p), strings.TrimSpace(string(p))} {
		_, err := ResolveSigner(ref, NewStore(newFakeKeyring()), envOf(nil))
		if err == nil || !strings.Contains(err.Error(), "the value looks like key material") {
			t.Errorf("ResolveSigner(PEM) = %v", err)
		}
		if err != nil && strings.Contains(err.Error(), body[:16]) {
			t.Errorf("error shows the key: %v", err)
		}
	}
	// A one-line secret in place of a name is not echoed either: base64
	// (with and without '+' and '/'), hex, in any reference form.
	hexSeed := "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	for _, secret := range []string{body, "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", "nWGxne+9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A", hexSeed} {
		for _, ref := range []string{secret, "env:" + secret} {
			_, err := ResolveSigner(ref, NewStore(newFakeKeyring()), envOf(nil))
			if err == nil || strings.Contains(err.Error(), secret[:12]) {
				t.Errorf("ResolveSigner(%.16s...) = %v", ref, err)
			}
			_, err = ResolvePublic(ref, NewStore(newFakeKeyring()))
			if err == nil || strings.Contains(err.Error(), secret[:12]) {
				t.Errorf("ResolvePublic(%.16s...) = %v", ref, err)
			}
		}
	}
}

func TestLooksSecret(t *testing.T) {
	for _, s := range []string{"release", "release-2024-production-signing", "fleet.alpha.signing.key.2024.v2.final", "ProductionFleetSigningKey2024Alpha.v2", strings.Repeat("ab", 16)} {
		if looksSecret(s) {
			t.Errorf("looksSecret(%q)", s)
		}
	}
	for _, s := range []string{"MC4CAQAwBQYDK2VwBCIEILnHWxt37uUjFwZOjqowYOm1cNdvdj1jAO7rQfhnLr0P", strings.Repeat("9d61b19d", 5)} {
		if !looksSecret(s) {
			t.Errorf("!looksSecret(%q)", s)
		}
	}
}

func TestResolvePublic(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(newFakeKeyring())
	generated(t, s, "release", "ecdsa-p256")
	keyringPub, _ := s.Public("release")

	k, priv := keyPEM(t, "ed25519")
	pubPEM, _ := ExportPublic(k.Public(), "pem", "")
	pubDER, _ := ExportPublic(k.Public(), "der", "")
	files := map[string][]byte{"pub.pem": pubPEM, "pub.der": pubDER, "priv.pem": priv, "garbage": []byte("hello")}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, ref := range []string{
		filepath.Join(dir, "pub.pem"), filepath.Join(dir, "pub.der"), filepath.Join(dir, "priv.pem"),
		"file:" + filepath.Join(dir, "pub.pem"), "file:" + filepath.Join(dir, "pub.der"),
	} {
		got, err := ResolvePublic(ref, s)
		if err != nil || !reflect.DeepEqual(got, k.Public()) {
			t.Errorf("ResolvePublic(%q) = %v", ref, err)
		}
	}
	if got, err := ResolvePublic("release", s); err != nil || !reflect.DeepEqual(got, keyringPub) {
		t.Errorf("ResolvePublic(release) = %v", err)
	}
	if got, err := ResolvePublicEnv("env:", s, envOf(map[string]string{"OTACTL_SIGNING_KEY": string(priv)})); err != nil || !reflect.DeepEqual(got, k.Public()) {
		t.Errorf("ResolvePublicEnv(env:) = %v", err)
	}
	if got, err := ResolvePublicEnv("env:PUB", s, envOf(map[string]string{"PUB": string(pubPEM)})); err != nil || !reflect.DeepEqual(got, k.Public()) {
		t.Errorf("ResolvePublicEnv(env:PUB) = %v", err)
	}

	for _, tc := range []struct{ ref, want string }{
		{"nokey", `no file named "nokey", and key "nokey" not found in the keyring`},
		{"file:" + filepath.Join(dir, "nokey"), "no such file: " + filepath.Join(dir, "nokey")},
		{"nofile.pub", "no such file: nofile.pub"},
		{"keys/release", "no such file: keys/release"},
		{"bad name", "no such file, and not a key name: key name has ' ' at byte 4"},
		{"file:", "file: needs a path"},
		{filepath.Join(dir, "missing.pem"), "no such file: " + filepath.Join(dir, "missing.pem")},
		{filepath.Join(dir, "garbage"), "public key file " + filepath.Join(dir, "garbage") + ": not a PEM public key"},
		{"kms:alias/x", `unsupported key reference scheme "kms:"`},
		{"env:NONE", "environment variable NONE is not set or empty"},
	} {
		if _, err := ResolvePublicEnv(tc.ref, s, envOf(nil)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ResolvePublic(%q) = %v, want %q", tc.ref, err, tc.want)
		}
	}
	if _, err := ResolvePublic("nokey", s); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing key is not ErrNotFound: %v", err)
	}

	// A file in the working directory wins over a keyring key of the same
	// name; a directory does not.
	t.Chdir(dir)
	if err := os.WriteFile("release", pubPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ResolvePublic("release", s); err != nil || !reflect.DeepEqual(got, k.Public()) {
		t.Errorf("file named like a key: %v", err)
	}
	if err := os.Remove("release"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir("release", 0o700); err != nil {
		t.Fatal(err)
	}
	if got, err := ResolvePublic("release", s); err != nil || !reflect.DeepEqual(got, keyringPub) {
		t.Errorf("directory named like a key: %v", err)
	}
}

// TestCheckRefExecCommand: an exec: command whose program lives under a
// random-looking folder is a reference; one that holds key material is
// refused.
func TestCheckRefExecCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Zq8RtY2mW7xKp4Lb9VnC3sHd6Jf1Ga5E")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "signer.sh")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkRef("exec:" + prog + " alias/ota-release"); err != nil {
		t.Errorf("exec: of an existing program refused: %v", err)
	}
	if err := checkRef("exec:" + prog + " --key MC4CAQAwBQYDK2VwBCIEIPwHsskEefe6iDHrdh7ZVou5BzgLBRQVrmEMpFgA5g"); err == nil {
		t.Error("an exec: command holding a private key's body was taken")
	}
}
