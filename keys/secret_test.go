package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/testsecrets"
)

// keyForms are the ways a private key gets pasted where a reference
// belongs: the PEM, one line of it, the PEM on one line, the PEM in
// base64, the raw private bytes in hex and base64.
func keyForms(t *testing.T, alg string) map[string]string {
	t.Helper()
	k, p := keyPEM(t, alg)
	var raw []byte
	switch k := k.(type) {
	case ed25519.PrivateKey:
		raw = k.Seed()
	case *ecdsa.PrivateKey:
		raw, _ = k.Bytes()
	}
	lines := strings.Split(string(p), "\n")
	forms := map[string]string{
		"PEM":            string(p),
		"PEM trimmed":    strings.TrimSpace(string(p)),
		"PEM on a line":  strings.ReplaceAll(string(p), "\n", `\n`),
		"PEM in base64":  base64.StdEncoding.EncodeToString(p),
		"hex":            hex.EncodeToString(raw),
		"base64":         base64.StdEncoding.EncodeToString(raw),
		"base64url":      base64.RawURLEncoding.EncodeToString(raw),
		"PEM body lines": strings.Join(lines[1:len(lines)-2], " "),
	}
	for i, l := range lines[1 : len(lines)-2] {
		forms["PEM line "+string(rune('1'+i))] = l
	}
	return forms
}

// TestKeyMaterialNeverInErrors passes every form of a key in every
// reference form to every resolver: each must fail without any part of
// the key in its error (found by testsecrets, which knows every form).
func TestKeyMaterialNeverInErrors(t *testing.T) {
	s := NewStore(newFakeKeyring())
	for _, alg := range []string{AlgEd25519, AlgECDSAP256} {
		for form, secret := range keyForms(t, alg) {
			for _, ref := range []string{secret, "file:" + secret, "env:" + secret, "./" + secret} {
				_, err := ResolveSigner(ref, s, envOf(nil))
				if err == nil {
					t.Fatalf("%s %s: ResolveSigner accepted it", alg, form)
				}
				if leaked := testsecrets.Find(err.Error()); len(leaked) > 0 {
					t.Errorf("%s %s: ResolveSigner's error shows the key (%v)", alg, form, leaked)
				}
				_, err = ResolvePublicEnv(ref, s, envOf(nil))
				if err == nil {
					t.Fatalf("%s %s: ResolvePublicEnv accepted it", alg, form)
				}
				if leaked := testsecrets.Find(err.Error()); len(leaked) > 0 {
					t.Errorf("%s %s: ResolvePublicEnv's error shows the key (%v)", alg, form, leaked)
				}
				if shown, ok := ShowRef(ref); ok || shown != "" {
					t.Errorf("%s %s: ShowRef shows it", alg, form)
				}
			}
			if err := ValidateKeyName(secret); err == nil || len(testsecrets.Find(err.Error())) > 0 {
				t.Errorf("%s %s: ValidateKeyName = %v", alg, form, err)
			}
			if _, err := s.Import(secret, []byte("x")); err == nil || len(testsecrets.Find(err.Error())) > 0 {
				t.Errorf("%s %s: Import as a name: %v", alg, form, err)
			}
			if got := Redact("error: bad value " + secret + ": try again"); len(testsecrets.Find(got)) > 0 {
				if !strings.Contains(form, "hex") {
					t.Errorf("%s %s: Redact kept the key", alg, form)
				}
			}
		}
	}
}

func TestShowRef(t *testing.T) {
	for _, ref := range []string{"release-key", "file:ci.pem", "file:/tmp/TestShowRef123456/001/key", "env:", "env:CI_KEY",
		"./keys/ci.pem", "keys/release", "release.pub", "/home/runner/work/MyRepo2/keys/release"} {
		if got, ok := ShowRef(ref); !ok || got != ref {
			t.Errorf("ShowRef(%q) = %q, %v", ref, got, ok)
		}
	}
	for _, ref := range []string{"", "bad name", "a@b", "env:1X", "env:A-B", "pkcs11:token=hsm", "hunter2!", strings.Repeat("x", 2000),
		"MC4CAQAwBQYDK2VwBCIEIFmB/+mrcY3pTC5OgNQNtgpbMmR+1UYjYbnJAMpIedWH"} {
		if got, ok := ShowRef(ref); ok || got != "" {
			t.Errorf("ShowRef(%.40q) = %q, %v: want it hidden", ref, got, ok)
		}
	}
}

// TestLooksSecretOnRandomAndChosenStrings measures the rule on random
// base64 (a fixed seed, so the test is deterministic) and on names and
// paths people and tests make.
func TestLooksSecretOnRandomAndChosenStrings(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{24, 32, 44, 64} {
		missed := 0
		const trials = 2000
		for i := 0; i < trials; i++ {
			b := make([]byte, n)
			rng.Read(b)
			if !looksSecret(base64.StdEncoding.EncodeToString(b)[:n]) {
				missed++
			}
		}
		// Misses are rare, and rarer for longer strings (a PEM line is 64).
		limit := map[int]int{24: trials / 20, 32: trials / 50, 44: trials / 200, 64: 0}[n]
		if missed > limit {
			t.Errorf("%d-character random base64: %d of %d not taken for secrets (limit %d)", n, missed, trials, limit)
		}
	}
	for _, s := range []string{
		"release-key-2024-production-signing", "ProductionFleetSigningKey2024Alpha.v2", "ProductionFleetSigningKey2024Alpha",
		"/tmp/TestPubkeyNoSuchFile3984753/001/nofile", "TestReleaseVerifyRefusesHugeComponentSize123456789/002",
		"/home/runner/work/MyRepo2/keys/release", "mqtt://127.0.0.1:41235", "otactl-3f9a1c2b4d5e",
	} {
		if looksSecret(s) {
			t.Errorf("looksSecret(%q)", s)
		}
	}
	// Hex of 20 bytes or more is taken for a secret in names, not by Redact
	// (which keeps digests).
	digest := strings.Repeat("9d61b19d", 8)
	if !looksSecret(digest) || Redact("digest "+digest) != "digest "+digest {
		t.Errorf("hex: looksSecret %v, Redact %q", looksSecret(digest), Redact("digest "+digest))
	}
}

func TestRedact(t *testing.T) {
	_, p := keyPEM(t, AlgECDSAP256)
	line := strings.Split(string(p), "\n")[1]
	for _, tc := range []struct{ in, want string }{
		{"bad flag syntax: " + string(p), "bad flag syntax: (redacted)\n"},
		{"cut short: " + string(p[:60]), "cut short: (redacted)"},
		{`signing key "` + line + `": not found`, `signing key "(redacted)": not found`},
		{"no such file: /tmp/TestRedact123/001/k.pem", "no such file: /tmp/TestRedact123/001/k.pem"},
		{"hash 934fbf2313b91eb3b669d26a7073687ba5b2673b4a452f0b8d0346fcd771d0e4 is not the digest", "hash 934fbf2313b91eb3b669d26a7073687ba5b2673b4a452f0b8d0346fcd771d0e4 is not the digest"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%.30q...) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestNoSuchFile: a reference that is a path says the file is missing,
// and never tries the keyring (which is unavailable here).
func TestNoSuchFile(t *testing.T) {
	kr := newFakeKeyring()
	kr.failGet = func(string, string) error { return &UnavailableError{} }
	s := NewStore(kr)
	dir := t.TempDir()
	for _, ref := range []string{"nofile.pub", "nofile.pem", "./nofile", filepath.Join(dir, "nofile"), "file:nofile"} {
		_, err := ResolvePublicEnv(ref, s, envOf(nil))
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrKeyringUnavailable) || !strings.HasPrefix(err.Error(), "no such file: ") {
			t.Errorf("ResolvePublicEnv(%q) = %v", ref, err)
		}
	}
	// For signing a bare name is a keyring key, but a file-like one gets
	// a hint towards file:.
	_, err := ResolveSigner("ci.pem", s, envOf(nil))
	if !errors.Is(err, ErrKeyringUnavailable) || !strings.Contains(hintChain(err), "for the key file write file:ci.pem") ||
		!strings.Contains(hintChain(err), "--sign env:OTACTL_SIGNING_KEY") {
		t.Errorf("ResolveSigner(ci.pem) = %v, hint %q", err, hintChain(err))
	}
	// A file named like a key name is still found.
	t.Chdir(dir)
	k, p := keyPEM(t, AlgEd25519)
	if err := os.WriteFile("release.pub", p, 0o600); err != nil {
		t.Fatal(err)
	}
	if pub, err := ResolvePublicEnv("release.pub", s, envOf(nil)); err != nil || !k.Public().(ed25519.PublicKey).Equal(pub) {
		t.Errorf("release.pub: %v", err)
	}
}

// hintChain is the first hint in err's chain, as commands.Main prints it.
func hintChain(err error) string {
	for ; err != nil; err = errors.Unwrap(err) {
		if h, ok := err.(interface{ Hint() string }); ok && h.Hint() != "" {
			return h.Hint()
		}
	}
	return ""
}

// TestRandomLookingPathOfAnExistingFile: a key file in a folder named by a
// hash (a CI workspace, a container layer) is still a reference; only its
// path is not shown in messages.
func TestRandomLookingPathOfAnExistingFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("3f9a1c2b", 8))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	k, p := keyPEM(t, AlgEd25519)
	keyFile := filepath.Join(dir, "ci")
	if err := os.WriteFile(keyFile, p, 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewStore(newFakeKeyring())
	if got, err := ResolveSigner("file:"+keyFile, s, envOf(nil)); err != nil || !k.Public().(ed25519.PublicKey).Equal(got.Public()) {
		t.Errorf("ResolveSigner(file:PATH) = %v", err)
	}
	if got, err := ResolvePublicEnv(keyFile, s, envOf(nil)); err != nil || !k.Public().(ed25519.PublicKey).Equal(got) {
		t.Errorf("ResolvePublicEnv(PATH) = %v", err)
	}
	_, err := ResolveSigner("file:"+keyFile+".missing", s, envOf(nil))
	if err == nil || strings.Contains(err.Error(), "3f9a1c2b3f9a1c2b") {
		t.Errorf("missing file: %v", err)
	}
}
