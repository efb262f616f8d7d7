package commands

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The external signer (exec:) and the offline ceremony (release digest,
// release attach), driven through the built binary with openssl on the
// other side, for both algorithms.

// signerAlgs are the two algorithms and openssl genpkey's arguments.
var signerAlgs = []struct{ alg, file string }{
	{"ecdsa-p256", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256"},
	{"ed25519", "-algorithm ed25519"},
}

// signerSetup makes, in a new folder, an openssl key pair of alg, the
// openssl signer script of docs/keys.md, a firmware file and an unsigned
// release.json of it. It returns the folder and the key's file names.
func signerSetup(t *testing.T, alg, genArgs string) (dir, priv, pub string) {
	t.Helper()
	requireReal(t, "openssl", haveCommand("openssl"))
	dir = t.TempDir()
	priv = opensslKey(t, dir, alg+".pem", strings.Fields(genArgs)...)
	pub = opensslPub(t, priv, filepath.Join(dir, alg+".pub"))
	script, err := os.ReadFile(filepath.Join("testdata", "openssl-signer.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "openssl-signer.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	writeRandom(t, filepath.Join(dir, "app.bin"), 4096)
	r := runOtactl(t, dir, nil, "", "release", "create", "-c", "main@1.2.3=app.bin", "--expires", "720h", "--out", "release.json")
	if r.code != 0 {
		t.Fatalf("release create: exit %d\n%s", r.code, r.stderr)
	}
	return dir, priv, pub
}

func readManifest(t *testing.T, path string) wireManifest {
	t.Helper()
	var m wireManifest
	if err := json.Unmarshal([]byte(mustRead(t, path)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExecSignerWithOpenssl(t *testing.T) {
	t.Parallel()
	for _, a := range signerAlgs {
		t.Run(a.alg, func(t *testing.T) {
			t.Parallel()
			dir, priv, pub := signerSetup(t, a.alg, a.file)
			// mktemp in the script writes under TMPDIR: the test's folder.
			env := []string{"TMPDIR=" + dir}
			signer := "exec:./openssl-signer.sh " + filepath.Base(priv)
			r := runOtactl(t, dir, env, "", "release", "create", "-c", "main@1.2.3=app.bin", "--out", "created.json",
				"--sign", signer, "--signer-pubkey", pub)
			if r.code != 0 {
				t.Fatalf("release create --sign exec: exit %d\n%s", r.code, r.stderr)
			}
			m := readManifest(t, filepath.Join(dir, "created.json"))
			if len(m.Signatures) != 1 || m.Signatures[0].Alg != a.alg {
				t.Fatalf("signatures %+v, want one %s", m.Signatures, a.alg)
			}
			opensslVerifySignatures(t, dir, m, map[string]string{a.alg: pub})

			// release sign in place, with the public key from the profile.
			config := "OTACTL_CONFIG=" + filepath.Join(dir, "config.json")
			if r := runOtactl(t, dir, []string{config}, "", "config", "set", "signer-pubkey", pub); r.code != 0 {
				t.Fatalf("config set signer-pubkey: exit %d\n%s", r.code, r.stderr)
			}
			r = runOtactl(t, dir, append(env, config), "", "release", "sign", "release.json", "--key", signer)
			if r.code != 0 {
				t.Fatalf("release sign --key exec: with the profile's signer-pubkey: exit %d\n%s", r.code, r.stderr)
			}
			m = readManifest(t, filepath.Join(dir, "release.json"))
			if len(m.Signatures) != 1 {
				t.Fatalf("signatures %+v, want one", m.Signatures)
			}
			opensslVerifySignatures(t, dir, m, map[string]string{a.alg: pub})
		})
	}
}

// TestExecSignerRefused: a signer whose signature is not the public key's
// (another key), or that fails, gets exit 3 or 1, and nothing is written.
func TestExecSignerRefused(t *testing.T) {
	t.Parallel()
	dir, _, pub := signerSetup(t, "ecdsa-p256", signerAlgs[0].file)
	other := opensslKey(t, dir, "other.pem", strings.Fields(signerAlgs[0].file)...)
	env := []string{"TMPDIR=" + dir}
	before := mustRead(t, filepath.Join(dir, "release.json"))
	for _, c := range []struct {
		name, signer string
		code         int
		want         string
	}{
		{"another key's signature", "exec:./openssl-signer.sh " + filepath.Base(other), 3, "made a signature that does not verify: verification failed: bad ecdsa-p256 signature"},
		{"not a signature", `exec:sh -c "cat >/dev/null; echo not a signature"`, 3, "neither ASN.1 DER nor 64 bytes r||s"},
		{"signer fails", `exec:sh -c "echo token locked >&2; exit 2"`, 1, "signer sh failed: exit status 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runOtactl(t, dir, env, "", "release", "sign", "release.json", "--key", c.signer, "--signer-pubkey", pub)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Errorf("release sign: exit %d, want %d saying %q\n%s", r.code, c.code, c.want, r.stderr)
			}
			if mustRead(t, filepath.Join(dir, "release.json")) != before {
				t.Error("release sign changed the manifest although the signer was refused")
			}
			out := "out-" + strings.ReplaceAll(c.name, " ", "-") + ".json"
			r = runOtactl(t, dir, env, "", "release", "create", "-c", "main@1.2.3=app.bin", "--out", out, "--sign", c.signer, "--signer-pubkey", pub)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Errorf("release create: exit %d, want %d saying %q\n%s", r.code, c.code, c.want, r.stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, out)); err == nil {
				t.Errorf("release create wrote %s although the signer was refused", out)
			}
		})
	}
	r := runOtactl(t, dir, env, "", "release", "sign", "release.json", "--key", "exec:sh")
	if r.code != 1 || !strings.Contains(r.stderr, "no public key given for the exec: signer") || !strings.Contains(r.stderr, "hint: give the signer's public key once with --signer-pubkey") {
		t.Errorf("exec: without a public key: exit %d\n%s", r.code, r.stderr)
	}
	r = runOtactl(t, dir, nil, "", "release", "sign", "release.json", "--key", "file:other.pem", "--signer-pubkey", pub)
	if r.code != 2 || !strings.Contains(r.stderr, "--signer-pubkey is the public key of an exec: signer, and --key names none") {
		t.Errorf("--signer-pubkey without exec: exit %d, want 2\n%s", r.code, r.stderr)
	}
	r = runOtactl(t, dir, nil, "", "release", "rollback", "--to", "1", "--sign", "exec:./a", "--sign", "exec:./b", "--broker", "mqtt://127.0.0.1:1")
	if r.code != 2 || !strings.Contains(r.stderr, "--sign: one exec: signer at a time") {
		t.Errorf("rollback with two exec: signers: exit %d, want 2 before any network traffic\n%s", r.code, r.stderr)
	}
}

// TestDigestAttachWithOpenssl is the offline ceremony: release digest,
// openssl signs on the "offline machine", release attach.
func TestDigestAttachWithOpenssl(t *testing.T) {
	t.Parallel()
	for _, a := range signerAlgs {
		t.Run(a.alg, func(t *testing.T) {
			t.Parallel()
			dir, priv, pub := signerSetup(t, a.alg, a.file)
			m := readManifest(t, filepath.Join(dir, "release.json"))
			r := runOtactl(t, dir, nil, "", "release", "digest", "release.json")
			if r.code != 0 || r.stdout != m.Hash+"\n" {
				t.Fatalf("release digest: exit %d, stdout %q, want the manifest hash %s\n%s", r.code, r.stdout, m.Hash, r.stderr)
			}
			r = runOtactl(t, dir, nil, "", "release", "digest", "release.json", "--base64")
			if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.stdout)); r.code != 0 || err != nil || digestHex(b) != m.Hash {
				t.Errorf("release digest --base64: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
			}
			r = runOtactl(t, dir, nil, "", "release", "digest", "release.json", "--raw")
			if r.code != 0 || digestHex([]byte(r.stdout)) != m.Hash {
				t.Fatalf("release digest --raw: exit %d, %d bytes\n%s", r.code, len(r.stdout), r.stderr)
			}
			digestFile := filepath.Join(dir, "release.digest")
			os.WriteFile(digestFile, []byte(r.stdout), 0o644)
			sigFile := filepath.Join(dir, "release.sig")
			args := []string{"pkeyutl", "-sign", "-inkey", priv, "-rawin", "-in", digestFile, "-out", sigFile}
			if a.alg == "ecdsa-p256" {
				args = append(args, "-digest", "sha256")
			}
			if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl pkeyutl -sign: %v\n%s", err, out)
			}
			sig := mustRead(t, sigFile)
			os.WriteFile(filepath.Join(dir, "release.sig.b64"), []byte(base64.StdEncoding.EncodeToString([]byte(sig))+"\n"), 0o644)

			// A wrong signature, and the right one over a changed manifest:
			// exit 3, the manifest untouched.
			before := mustRead(t, filepath.Join(dir, "release.json"))
			seq := strconv.FormatInt(m.SequenceNumber, 10)
			changed := strings.Replace(before, `"sequenceNumber": `+seq, `"sequenceNumber": 1`+seq, 1)
			os.WriteFile(filepath.Join(dir, "changed.json"), []byte(changed), 0o644)
			wrong := []byte(sig)
			wrong[len(wrong)-3] ^= 1
			os.WriteFile(filepath.Join(dir, "wrong.sig"), wrong, 0o644)
			for _, c := range []struct{ manifest, sig, want string }{
				{"release.json", "wrong.sig", "verification failed"},
				{"changed.json", "release.sig", "changed after it was sealed"},
			} {
				r = runOtactl(t, dir, nil, "", "release", "attach", c.manifest, "--pubkey", pub, "--signature", c.sig)
				if r.code != 3 || !strings.Contains(r.stderr, c.want) {
					t.Errorf("attach %s to %s: exit %d, want 3 saying %q\n%s", c.sig, c.manifest, r.code, c.want, r.stderr)
				}
			}
			if mustRead(t, filepath.Join(dir, "release.json")) != before || mustRead(t, filepath.Join(dir, "changed.json")) != changed {
				t.Error("a refused attach changed the manifest")
			}

			// The base64 signature to --out, then the binary one in place.
			r = runOtactl(t, dir, nil, "", "release", "attach", "release.json", "--pubkey", pub, "--signature", "release.sig.b64", "--out", "attached.json")
			if r.code != 0 || mustRead(t, filepath.Join(dir, "release.json")) != before {
				t.Fatalf("attach base64 --out: exit %d (or the manifest changed)\n%s", r.code, r.stderr)
			}
			r = runOtactl(t, dir, nil, "", "release", "attach", "release.json", "--pubkey", pub, "--signature", "release.sig")
			if r.code != 0 || !strings.Contains(r.stderr, "attached the signature by key") {
				t.Fatalf("attach in place: exit %d\n%s", r.code, r.stderr)
			}
			for _, f := range []string{"attached.json", "release.json"} {
				got := readManifest(t, filepath.Join(dir, f))
				if got.Hash != m.Hash || len(got.Signatures) != 1 {
					t.Fatalf("%s: hash %s, signatures %+v", f, got.Hash, got.Signatures)
				}
				opensslVerifySignatures(t, dir, got, map[string]string{a.alg: pub})
			}
			r = runOtactl(t, dir, nil, "", "release", "verify", "release.json", "--pubkey", pub)
			if r.code != 0 {
				t.Errorf("release verify after attach: exit %d\n%s", r.code, r.stderr)
			}
		})
	}
}

// digestHex is a 32-byte digest in hex, or "" for anything else.
func digestHex(b []byte) string {
	if len(b) != 32 {
		return ""
	}
	return hex.EncodeToString(b)
}

// TestSignerRecipeIsDocumented: the openssl signer these tests run is
// the one docs/keys.md shows.
func TestSignerRecipeIsDocumented(t *testing.T) {
	t.Parallel()
	script := mustRead(t, filepath.Join("testdata", "openssl-signer.sh"))
	if doc := mustRead(t, filepath.Join("..", "docs", "keys.md")); !strings.Contains(doc, script) {
		t.Error("docs/keys.md does not show commands/testdata/openssl-signer.sh as it is")
	}
}
