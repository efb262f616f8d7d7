package keys

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otactl/otactl/release"
)

func TestSplitCommand(t *testing.T) {
	words := map[string][]string{
		"sign.sh":                               {"sign.sh"},
		"  /opt/signer   --key  release  ":      {"/opt/signer", "--key", "release"},
		"a\tb":                                  {"a", "b"},
		`sh -c 'openssl dgst -sha256 | base64'`: {"sh", "-c", "openssl dgst -sha256 | base64"},
		`say "a \"quoted\" \\ word" 'it''s'`:    {"say", `a "quoted" \ word`, "its"},
		`"C:\Program Files\sign.exe" x`:         {`C:\Program Files\sign.exe`, "x"},
		`my\ signer "" x`:                       {"my signer", "", "x"},
		`$HOME/sign *.pem`:                      {"$HOME/sign", "*.pem"},
	}
	for in, want := range words {
		got, err := SplitCommand(in)
		if err != nil || strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	refused := map[string]string{
		"": "needs a command", "   ": "needs a command", `'' x`: "needs a command",
		`sign 'open`: "unterminated ' quote", `sign "open`: `unterminated " quote`, `sign \`: "lone backslash",
	}
	for in, want := range refused {
		if got, err := SplitCommand(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want error %q", in, got, err, want)
		}
	}
}

// execKey makes an Ed25519 key and writes its public key PEM in dir.
func execKey(t *testing.T, dir string) (ed25519.PrivateKey, string) {
	t.Helper()
	k, _ := keyPEM(t, AlgEd25519)
	b, err := ExportPublic(k.Public(), FormatPEM, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "signer.pub")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey), path
}

// execEnv is a getenv of the given pairs of name and value only.
func execEnv(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return envOf(m)
}

func TestExecSignerProtocol(t *testing.T) {
	needTool(t, "sh")
	dir := t.TempDir()
	k, pubFile := execKey(t, dir)
	digest := bytes.Repeat([]byte{0xab, 0x01}, 16)
	sig := ed25519.Sign(k, digest)
	id, err := release.KeyID(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	// Each script checks what it reads on stdin against a file and the
	// environment otactl sets, and answers with sig in the negotiated
	// encoding. (The values are in files: a reference holding a long hex
	// or base64 string is refused as looking like key material.)
	files := map[string][]byte{
		"digest.raw": digest, "digest.hex": []byte(hex.EncodeToString(digest) + "\n"),
		"digest.base64": []byte(base64.StdEncoding.EncodeToString(digest) + "\n"),
		"digest.env":    []byte(hex.EncodeToString(digest)),
		"sig.binary":    sig, "sig.base64": []byte(base64.StdEncoding.EncodeToString(sig) + "\n"),
		"sig.hex": []byte(hex.EncodeToString(sig) + "\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ input, output string }{{"", ""}, {"hex", "base64"}, {"base64", "hex"}, {"raw", "binary"}} {
		in, out := c.input, c.output
		if in == "" {
			in, out = "raw", "binary"
		}
		name := in + " in, " + out + " out"
		if c.input == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			script := `cat > got && cmp -s got digest.` + in + ` || exit 7; ` +
				`[ "$OTACTL_SIGNER_PROTOCOL" = 1 ] && [ "$OTACTL_SIGNER_ALG" = ed25519 ] && [ "$OTACTL_SIGNER_KEYID" = ` + id +
				` ] && [ "$OTACTL_SIGNER_INPUT" = ` + in + ` ] && [ "$OTACTL_SIGNER_OUTPUT" = ` + out +
				` ] && [ "$OTACTL_SIGNER_DIGEST" = "$(cat digest.env)" ] || exit 8; ` +
				`echo working >&2; printf "two\033[31m\nlines" >&2; cat sig.` + out
			ref := "exec:sh -c 'cd " + dir + " && " + script + "'"
			s, err := ResolveSigner(ref, nil, execEnv(EnvSignerPubkey, pubFile, EnvSignerInput, c.input, EnvSignerOutput, c.output))
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			s.(*ExecSigner).Stderr = &stderr
			got, err := crypto.SignMessage(s, rand.Reader, digest, crypto.Hash(0))
			if err != nil {
				t.Fatalf("sign: %v (stderr %q)", err, stderr.String())
			}
			if !bytes.Equal(got, sig) {
				t.Errorf("signature %x, want %x", got, sig)
			}
			if want := "signer sh: working\nsigner sh: two?[31m\nsigner sh: lines\n"; stderr.String() != want {
				t.Errorf("stderr %q, want %q", stderr.String(), want)
			}
		})
	}
}

func TestExecSignerFailures(t *testing.T) {
	needTool(t, "sh")
	dir := t.TempDir()
	_, pubFile := execKey(t, dir)
	digest := make([]byte, 32)
	for _, c := range []struct {
		name, ref, timeout, want string
		verification             bool
	}{
		{"exit status", `exec:sh -c 'echo no token >&2; exit 3'`, "", "signer sh failed: exit status 3", false},
		{"nothing written", `exec:sh -c 'cat >/dev/null'`, "", "signer sh wrote no signature on standard output", false},
		{"timeout", `exec:sh -c 'sleep 5'`, "300ms", "signer sh: no signature after 300ms, stopped", false},
		{"not a signature", `exec:sh -c 'echo hello'`, "", "ed25519 signature is 6 bytes, want 64", true},
		{"too much", `exec:sh -c 'head -c 70000 /dev/zero'`, "", "wrote more than 65536 bytes", true},
		{"wrong signature", `exec:sh -c 'head -c 64 /dev/zero'`, "", "signer sh: verification failed: bad ed25519 signature by key", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := ResolveSigner(c.ref, nil, execEnv(EnvSignerPubkey, pubFile, EnvSignerTimeout, c.timeout))
			if err != nil {
				t.Fatal(err)
			}
			s.(*ExecSigner).Stderr = &bytes.Buffer{}
			_, err = crypto.SignMessage(s, rand.Reader, digest, crypto.Hash(0))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if errors.Is(err, release.ErrVerification) != c.verification {
				t.Errorf("errors.Is(ErrVerification) = %v, want %v", !c.verification, c.verification)
			}
		})
	}
}

func TestExecSignerConfigRefused(t *testing.T) {
	dir := t.TempDir()
	_, pubFile := execKey(t, dir)
	for _, c := range []struct {
		name string
		ref  string
		env  []string
		want string
	}{
		{"no public key", "exec:sh", nil, "no public key given for the exec: signer"},
		{"missing public key", "exec:sh", []string{EnvSignerPubkey, filepath.Join(dir, "none.pub")}, "signer sh: public key: no such file"},
		{"other protocol", "exec:sh", []string{EnvSignerPubkey, pubFile, EnvSignerProtocol, "2"}, `OTACTL_SIGNER_PROTOCOL "2": this otactl speaks external signer protocol 1`},
		{"bad input", "exec:sh", []string{EnvSignerPubkey, pubFile, EnvSignerInput, "der"}, `OTACTL_SIGNER_INPUT "der": use raw, hex or base64`},
		{"bad output", "exec:sh", []string{EnvSignerPubkey, pubFile, EnvSignerOutput, "pem"}, `unknown signature encoding "pem"`},
		{"bad timeout", "exec:sh", []string{EnvSignerPubkey, pubFile, EnvSignerTimeout, "-1s"}, "want a positive duration"},
		{"no program", "exec:otactl-no-such-signer --token x", []string{EnvSignerPubkey, pubFile}, "signer otactl-no-such-signer: program not found in PATH"},
		{"no file", "exec:" + filepath.Join(dir, "none.sh"), []string{EnvSignerPubkey, pubFile}, "signer none.sh: no such program"},
		{"not executable", "exec:" + pubFile, []string{EnvSignerPubkey, pubFile}, "signer signer.pub: program is not executable"},
		{"empty", "exec:", []string{EnvSignerPubkey, pubFile}, "key reference exec: needs a command"},
		{"quote", "exec:sh 'x", []string{EnvSignerPubkey, pubFile}, "unterminated ' quote"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ResolveSigner(c.ref, nil, execEnv(c.env...))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "--token x") {
				t.Errorf("the error repeats the command's arguments: %v", err)
			}
		})
	}
}

// TestSignerEnvironHasNoSecrets: a signer program gets otactl's
// environment less the broker password, the signing key and a token PIN.
func TestSignerEnvironHasNoSecrets(t *testing.T) {
	t.Setenv("OTACTL_PASSWORD", "pw")
	t.Setenv("OTACTL_SIGNING_KEY", "key")
	t.Setenv("OTACTL_PKCS11_PIN", "1234")
	t.Setenv("OTACTL_BROKER", "mqtt://b")
	env := strings.Join(signerEnviron(), "\n")
	for _, secret := range []string{"OTACTL_PASSWORD=", "OTACTL_SIGNING_KEY=", "OTACTL_PKCS11_PIN="} {
		if strings.Contains(env, secret) {
			t.Errorf("the signer's environment holds %s", secret)
		}
	}
	if !strings.Contains(env, "OTACTL_BROKER=mqtt://b") {
		t.Error("the signer's environment lost the rest")
	}
}
