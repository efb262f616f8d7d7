package commands

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/testsecrets"
	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/release"
)

// These tests drive the built binary as a user would, with keys made by
// openssl and every check redone with openssl and sha256sum.

func opensslKey(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	requireReal(t, "openssl", haveCommand("openssl"))
	path := filepath.Join(dir, name)
	out, err := exec.Command("openssl", append([]string{"genpkey", "-out", path}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl genpkey: %v\n%s", err, out)
	}
	testsecrets.RegisterPEM(t, "openssl key "+name, []byte(mustRead(t, path)))
	return path
}

// opensslPub writes the public key of the private key file priv to pub,
// with openssl, and returns pub.
func opensslPub(t *testing.T, priv, pub string) string {
	t.Helper()
	if out, err := exec.Command("openssl", "pkey", "-in", priv, "-pubout", "-out", pub).CombinedOutput(); err != nil {
		t.Fatalf("openssl pkey: %v\n%s", err, out)
	}
	return pub
}

// opensslVerifySignatures checks with openssl alone that every signature
// of m verifies over its raw release digest with the public key file
// pubs[alg], and that its key id is openssl's DER SubjectPublicKeyInfo
// hashed.
func opensslVerifySignatures(t *testing.T, dir string, m wireManifest, pubs map[string]string) {
	t.Helper()
	for _, s := range m.Signatures {
		opensslCheckSignature(t, dir, m.Hash, s, pubs[s.Alg])
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeRandom(t *testing.T, path string, n int) {
	t.Helper()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

type wireManifest struct {
	SequenceNumber int64  `json:"sequenceNumber"`
	Hash           string `json:"hash"`
	Expires        string `json:"expires"`
	Components     []struct {
		Package, Version, Hash, URI, Type string
		Size                              int64
	} `json:"components"`
	Signatures []wireSignature `json:"signatures"`
}

type wireSignature struct {
	KeyID string `json:"keyid"`
	Alg   string `json:"alg"`
	Sig   string `json:"sig"`
}

// opensslCheckSignature checks with openssl alone that s signs the raw
// release digest digestHex with the public key in the PEM file pub, and
// that its key id is openssl's DER SubjectPublicKeyInfo hashed.
func opensslCheckSignature(t *testing.T, dir, digestHex string, s wireSignature, pub string) {
	t.Helper()
	digest, _ := hex.DecodeString(digestHex)
	digestFile := filepath.Join(dir, "digest.bin")
	os.WriteFile(digestFile, digest, 0o644)
	der, err := exec.Command("openssl", "pkey", "-pubin", "-in", pub, "-outform", "DER").Output()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	if want := hex.EncodeToString(sum[:])[:16]; s.KeyID != want {
		t.Errorf("%s keyid %s, openssl says %s", s.Alg, s.KeyID, want)
	}
	sig, err := base64.StdEncoding.DecodeString(s.Sig)
	if err != nil {
		t.Fatal(err)
	}
	sigFile := filepath.Join(dir, s.Alg+".sig")
	os.WriteFile(sigFile, sig, 0o644)
	var cmd *exec.Cmd
	if s.Alg == "ed25519" {
		cmd = exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", digestFile, "-sigfile", sigFile)
	} else {
		cmd = exec.Command("openssl", "dgst", "-sha256", "-verify", pub, "-signature", sigFile, digestFile)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("openssl rejects the %s signature: %v\n%s", s.Alg, err, out)
	}
}

// digestByHand rebuilds the release digest from the JSON fields, as
// docs/protocol.md#release-digest describes, without using package release.
func digestByHand(m wireManifest) string {
	exp := m.Expires
	if exp == "" {
		exp = "-"
	}
	text := "ota-release-digest-v1\nsequenceNumber " + strconv.FormatInt(m.SequenceNumber, 10) + "\nexpires " + exp + "\n"
	for _, c := range m.Components {
		typ := c.Type
		if typ == "" {
			typ = "-"
		}
		text += fmt.Sprintf("component %s %s %d %s %s %s\n", c.Package, c.Version, c.Size, c.Hash, typ, c.URI)
	}
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

func TestReleaseCreateWithOpensslKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ed := opensslKey(t, dir, "ed.pem", "-algorithm", "ed25519")
	p256 := opensslKey(t, dir, "p256.pem", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
	app := filepath.Join(dir, "app.bin")
	modem := filepath.Join(dir, "modem.bin")
	writeRandom(t, app, 538208)
	writeRandom(t, modem, 4096)

	r := runOtactl(t, dir, []string{"OTACTL_SIGNING_KEY=" + mustRead(t, ed)}, "",
		"release", "create", "-c", "main@1.2.3=app.bin", "-c", "modem@4.0.1=modem.bin,type=modem",
		"--type", "mcuboot", "--sign", "env:", "--sign", "file:"+p256, "--expires", "720h", "--out", "release.json")
	if r.code != 0 {
		t.Fatalf("release create: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "warning:") || !strings.Contains(r.stderr, "component") {
		t.Errorf("two components gave no compatibility warning:\n%s", r.stderr)
	}
	var m wireManifest
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(dir, "release.json"))), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Components) != 2 || m.Components[0].Package != "main" || m.Components[1].Package != "modem" {
		t.Fatalf("components not sorted by package: %+v", m.Components)
	}
	if m.Components[0].Type != "mcuboot" || m.Components[1].Type != "modem" {
		t.Errorf("types: %q %q", m.Components[0].Type, m.Components[1].Type)
	}
	// Component hash and size as sha256sum and stat see them.
	requireReal(t, "sha256sum", haveCommand("sha256sum"))
	for i, f := range []string{app, modem} {
		out, err := exec.Command("sha256sum", f).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Fields(string(out))[0]; got != m.Components[i].Hash {
			t.Errorf("%s: manifest hash %s, sha256sum %s", f, m.Components[i].Hash, got)
		}
		st, _ := os.Stat(f)
		if st.Size() != m.Components[i].Size {
			t.Errorf("%s: manifest size %d, stat %d", f, m.Components[i].Size, st.Size())
		}
		if want := "/.u/c/" + m.Components[i].Package + "@" + m.Components[i].Version; m.Components[i].URI != want {
			t.Errorf("uri %q, want %q", m.Components[i].URI, want)
		}
	}
	if got := digestByHand(m); got != m.Hash {
		t.Fatalf("hash %s, digest rebuilt by hand %s", m.Hash, got)
	}
	// Every signature checks out with openssl over the raw digest, and every
	// key id is openssl's DER SubjectPublicKeyInfo hashed.
	if len(m.Signatures) != 2 {
		t.Fatalf("want 2 signatures, got %d", len(m.Signatures))
	}
	edPub := opensslPub(t, ed, filepath.Join(dir, "ed25519.pub.pem"))
	p256Pub := opensslPub(t, p256, filepath.Join(dir, "ecdsa-p256.pub.pem"))
	opensslVerifySignatures(t, dir, m, map[string]string{"ed25519": edPub, "ecdsa-p256": p256Pub})

	// verify: all good, then one byte off in an artifact, in a signature,
	// and after expiry: exit 3 naming what failed.
	r = runOtactl(t, dir, nil, "", "release", "verify", "release.json", "--pubkey", edPub, "--pubkey", p256Pub, "--threshold", "2", "app.bin", "modem.bin")
	if r.code != 0 {
		t.Fatalf("verify of a good release: exit %d\n%s", r.code, r.stderr)
	}
	r = runOtactl(t, dir, nil, "", "release", "verify", "release.json", "--pubkey", edPub, "--at", m.Expires)
	if r.code != 3 || !strings.Contains(r.stderr, "expired") {
		t.Errorf("verify at expiry: exit %d, want 3 saying expired\n%s", r.code, r.stderr)
	}
	b, _ := os.ReadFile(app)
	b[1000] ^= 1
	os.WriteFile(filepath.Join(dir, "app-bad.bin"), b, 0o644)
	r = runOtactl(t, dir, nil, "", "release", "verify", "release.json", "--pubkey", edPub, "main=app-bad.bin")
	if r.code != 3 || !strings.Contains(r.stderr, "app-bad.bin") {
		t.Errorf("verify with a changed artifact: exit %d, want 3 naming the file\n%s", r.code, r.stderr)
	}
	tampered := strings.Replace(mustRead(t, filepath.Join(dir, "release.json")), m.Signatures[1].Sig, flipBase64(m.Signatures[1].Sig), 1)
	os.WriteFile(filepath.Join(dir, "tampered.json"), []byte(tampered), 0o644)
	r = runOtactl(t, dir, nil, "", "release", "verify", "tampered.json", "--pubkey", edPub, "--pubkey", p256Pub, "--threshold", "2", "-o", "json")
	if r.code != 3 {
		t.Errorf("verify with a changed signature: exit %d, want 3\n%s", r.code, r.stderr)
	}
	var verdict struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &verdict); err != nil || verdict.OK || len(verdict.Problems) == 0 {
		t.Errorf("verdict JSON %q (%v): want ok=false with problems", r.stdout, err)
	}
}

// flipBase64 changes one byte of the decoded signature.
func flipBase64(s string) string {
	b, _ := base64.StdEncoding.DecodeString(s)
	b[10] ^= 0x40
	return base64.StdEncoding.EncodeToString(b)
}

func TestReleaseCreateIsReproducible(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "app.bin"), 10000)
	env := []string{"SOURCE_DATE_EPOCH=1767225600"}
	var outs []string
	for i := 0; i < 2; i++ {
		r := runOtactl(t, dir, env, "", "release", "create", "-c", "main@1.0.0=app.bin", "--expires", "2027-01-01T00:00:00Z")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		outs = append(outs, r.stdout)
	}
	if outs[0] != outs[1] {
		t.Fatalf("two runs differ:\n%s\n%s", outs[0], outs[1])
	}
	if !strings.Contains(outs[0], `"sequenceNumber": 1767225600`) {
		t.Errorf("sequence number is not SOURCE_DATE_EPOCH:\n%s", outs[0])
	}
}

func TestReleaseCreateMCUboot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	img := release.EncodeImageHeader(release.ImageHeader{HeaderSize: 32, ImageSize: 64, Major: 1, Minor: 1, Revision: 0})
	img = append(img, make([]byte, 64)...)
	os.WriteFile(filepath.Join(dir, "zephyr.signed.bin"), img, 0o644)

	r := runOtactl(t, dir, nil, "", "release", "create", "-c", "main@1.2.3=zephyr.signed.bin", "--out", "r.json")
	if r.code != 1 || !strings.Contains(r.stderr, "1.1.0") {
		t.Errorf("mismatched MCUboot version: exit %d, want 1 naming the header version\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "r.json")); !os.IsNotExist(err) {
		t.Errorf("a refused release left r.json behind")
	}
	r = runOtactl(t, dir, nil, "", "release", "create", "-c", "main@1.2.3=zephyr.signed.bin", "--allow-version-mismatch")
	if r.code != 0 {
		t.Errorf("--allow-version-mismatch: exit %d\n%s", r.code, r.stderr)
	}
	r = runOtactl(t, dir, nil, "", "release", "create", "-c", "main=zephyr.signed.bin")
	if r.code != 0 || !strings.Contains(r.stdout, `"version": "1.1.0"`) {
		t.Errorf("version from the header: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestReleaseSignAndShow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "app.bin"), 2048)
	r := runOtactl(t, dir, nil, "", "key", "generate", "--out", "k1.pem")
	if r.code != 0 {
		t.Fatalf("key generate --out: exit %d\n%s", r.code, r.stderr)
	}
	if st, err := os.Stat(filepath.Join(dir, "k1.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st, err)
	}
	runOtactl(t, dir, nil, "", "key", "generate", "--alg", "ecdsa-p256", "--out", "k2.pem")
	testsecrets.RegisterPEM(t, "key generate --out k1.pem", []byte(mustRead(t, filepath.Join(dir, "k1.pem"))))
	testsecrets.RegisterPEM(t, "key generate --out k2.pem", []byte(mustRead(t, filepath.Join(dir, "k2.pem"))))
	r = runOtactl(t, dir, nil, "", "release", "create", "-c", "main@1.0.0=app.bin", "--sequence", "42", "--out", "r.json")
	if r.code != 0 {
		t.Fatalf("create: %s", r.stderr)
	}
	before := mustRead(t, filepath.Join(dir, "r.json"))
	r = runOtactl(t, dir, nil, "", "release", "sign", "r.json", "--sign", "file:k1.pem", "--sign", "file:k2.pem")
	if r.code != 0 {
		t.Fatalf("sign: exit %d\n%s", r.code, r.stderr)
	}
	after := mustRead(t, filepath.Join(dir, "r.json"))
	var m0, m1 wireManifest
	json.Unmarshal([]byte(before), &m0)
	json.Unmarshal([]byte(after), &m1)
	if len(m1.Signatures) != 2 || m1.Hash != m0.Hash || m1.SequenceNumber != 42 {
		t.Fatalf("sign changed more than the signatures:\n%s\n%s", before, after)
	}
	r = runOtactl(t, dir, nil, "", "release", "verify", "r.json", "--pubkey", "k1.pem", "--pubkey", "k2.pem", "--threshold", "2")
	if r.code != 0 {
		t.Errorf("verify after sign: exit %d\n%s", r.code, r.stderr)
	}
	// A stored hash that does not match the content: refused with exit 3.
	bad := strings.Replace(after, `"sequenceNumber": 42`, `"sequenceNumber": 43`, 1)
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(bad), 0o644)
	r = runOtactl(t, dir, nil, "", "release", "sign", "bad.json", "--sign", "file:k1.pem")
	if r.code != 3 {
		t.Errorf("sign of a tampered manifest: exit %d, want 3\n%s", r.code, r.stderr)
	}
	if mustRead(t, filepath.Join(dir, "bad.json")) != bad {
		t.Errorf("a refused sign changed the file")
	}

	r = runOtactl(t, dir, nil, "", "release", "show", "r.json")
	for _, want := range []string{"sequence    42", m1.Hash, "main", "1.0.0", m1.Signatures[0].KeyID, "never"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runOtactl(t, dir, nil, "", "release", "show", "r.json", "-o", "json")
	var shown struct {
		Schema   string
		Manifest json.RawMessage
	}
	var want bytes.Buffer
	if err := json.Compact(&want, []byte(after)); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || shown.Schema != "otactl/release-show/v1" || !bytes.Equal(shown.Manifest, want.Bytes()) {
		t.Errorf("show -o json does not hold the manifest (%v):\n%s", err, r.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"nope"},
		{"release", "create"},
		{"release", "verify"},
		{"release", "show", "a", "b"},
		{"release", "show", "--bogus", "x"},
		{"release", "show", "x", "-o", "yaml"},
		{"key", "export"},
		{"completion", "tcsh"},
	} {
		r := runOtactl(t, dir, nil, "", args...)
		if r.code != 2 {
			t.Errorf("otactl %s: exit %d, want 2\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
		if r.stderr == "" || r.stdout != "" && !strings.Contains(r.stdout, "USAGE") {
			t.Errorf("otactl %s: stdout %q stderr %q", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}
	r := runOtactl(t, dir, nil, "", "release", "create", "-c", "ma/in@1.0=x.bin")
	if r.code != 2 || !strings.Contains(r.stderr, "ma/in") {
		t.Errorf("bad package name: exit %d\n%s", r.code, r.stderr)
	}
	r = runOtactl(t, dir, nil, "", "release", "show", "missing.json")
	if r.code != 1 || !strings.Contains(r.stderr, "missing.json") {
		t.Errorf("missing file: exit %d\n%s", r.code, r.stderr)
	}
}

func TestHelpHasExamples(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"release", "create"}, {"release", "sign"}, {"release", "verify"}, {"release", "show"},
		{"key", "generate"}, {"key", "list"}, {"key", "export"}, {"key", "import"}, {"key", "delete"},
		{"completion"}, {"version"},
	} {
		r := runOtactl(t, "", nil, "", append(args, "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "$ otactl") {
			t.Errorf("otactl %s --help: exit %d, no example:\n%s", strings.Join(args, " "), r.code, r.stdout)
		}
	}
}

func TestBashCompletion(t *testing.T) {
	t.Parallel()
	requireReal(t, "bash", haveCommand("bash"))
	dir := t.TempDir()
	script := runOtactl(t, dir, nil, "", "completion", "bash").stdout
	os.WriteFile(filepath.Join(dir, "otactl.bash"), []byte(script), 0o644)
	// The script calls "otactl" from PATH: put the built binary first.
	binDir := filepath.Dir(otactlBin)
	test := `source ./otactl.bash
COMP_WORDS=(otactl release cr); COMP_CWORD=2; _otactl; echo "1:${COMPREPLY[*]}"
COMP_WORDS=(otactl release create --si); COMP_CWORD=3; _otactl; echo "2:${COMPREPLY[*]}"
COMP_WORDS=(otactl release create --sign ""); COMP_CWORD=4; _otactl; echo "3:${COMPREPLY[*]}"
COMP_WORDS=(otactl key export --format ""); COMP_CWORD=4; _otactl; echo "4:${COMPREPLY[*]}"
COMP_WORDS=(otactl key rotate --root-key ""); COMP_CWORD=4; _otactl; echo "5:${COMPREPLY[*]}"
`
	cmd := exec.Command("bash", "-c", test)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"), raceEnv())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	for _, want := range []string{"1:create", "2:--sign", "3:file: env:", "4:pem der c", "5:file: env:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("completion output lacks %q:\n%s", want, out)
		}
	}
}

// TestVerifyAndSignRefuseHugeComponents is point 8: a component size of
// 2^62 passed verify and sign. The limit is what one MQTT message carries
// (release.MaxComponentSize); verify of a manifest over it exits 3, as
// for every other invalid manifest, and sign refuses it (exit 1, as for
// every other invalid manifest it is given).
func TestVerifyAndSignRefuseHugeComponents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := opensslKey(t, dir, "ed.pem", "-algorithm", "ed25519")
	signer, err := keys.ParsePrivatePEM([]byte(mustRead(t, keyFile)))
	if err != nil {
		t.Fatal(err)
	}
	if r := runOtactl(t, dir, nil, "", "key", "export", "file:ed.pem", "--out", "ed.pub"); r.code != 0 {
		t.Fatalf("key export: %s", keys.Redact(r.stderr))
	}
	for _, tc := range []struct {
		size       int64
		verifyCode int
		signCode   int
	}{
		{1 << 62, ExitVerification, ExitError},
		{release.MaxComponentSize + 1, ExitVerification, ExitError},
		{268435455, ExitVerification, ExitError},
		{release.MaxComponentSize, 0, 0},
	} {
		m := &release.Manifest{SequenceNumber: 9, Components: []release.Component{{
			Package: "main", Version: "1.0.0", Hash: strings.Repeat("ab", 32), Size: tc.size, URI: release.ComponentURI("main", "1.0.0"),
		}}}
		m.Seal()
		// Signed by hand: sign refuses, but an attacker need not use it.
		d := m.Digest()
		sig, err := signer.Sign(nil, d[:], crypto.Hash(0))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := release.KeyID(signer.Public())
		m.Signatures = []release.Signature{{KeyID: id, Alg: release.AlgEd25519, Sig: base64.StdEncoding.EncodeToString(sig)}}
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		file := fmt.Sprintf("size-%d.json", tc.size)
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			t.Fatal(err)
		}
		r := runOtactl(t, dir, nil, "", "release", "verify", file, "--pubkey", "ed.pub")
		wantMsg := fmt.Sprintf("size %d is more than %d bytes, the most one MQTT message can carry", tc.size, int64(release.MaxComponentSize))
		if r.code != tc.verifyCode || tc.verifyCode != 0 && (!strings.Contains(r.stderr, wantMsg) || strings.Count(r.stderr, "\n") != 1) {
			t.Errorf("verify of size %d: exit %d, stderr %q; want exit %d and one line with %q", tc.size, r.code, keys.Redact(r.stderr), tc.verifyCode, wantMsg)
		}
		r = runOtactl(t, dir, nil, "", "release", "sign", file, "--sign", "file:ed.pem", "--out", "-")
		if r.code != tc.signCode || tc.signCode != 0 && !strings.Contains(r.stderr, wantMsg) {
			t.Errorf("sign of size %d: exit %d, stderr %q; want exit %d and %q", tc.size, r.code, keys.Redact(r.stderr), tc.signCode, wantMsg)
		}
	}
}

// TestSignRefusesExpiredManifest is point 8: `release sign` re-signed an
// expired manifest without a word. It exits 3 naming the expiry, and
// --expires gives the manifest a new one.
func TestSignRefusesExpiredManifest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opensslKey(t, dir, "ed.pem", "-algorithm", "ed25519")
	writeRandom(t, filepath.Join(dir, "fw.bin"), 100)
	old := []string{"SOURCE_DATE_EPOCH=1700000000"} // 2023-11-14T22:13:20Z
	if r := runOtactl(t, dir, old, "", "release", "create", "-c", "main@1.0.0=fw.bin", "--sequence", "3", "--expires", "1h", "--sign", "file:ed.pem", "--out", "r.json"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	before := mustRead(t, filepath.Join(dir, "r.json"))
	r := runOtactl(t, dir, nil, "", "release", "sign", "r.json", "--sign", "file:ed.pem")
	if r.code != ExitVerification || !strings.Contains(r.stderr, "manifest expired at 2023-11-14T23:13:20Z") || !strings.Contains(r.stderr, "hint: give it a new expiry with --expires") {
		t.Errorf("sign of an expired manifest: exit %d, stderr %q", r.code, keys.Redact(r.stderr))
	}
	if after := mustRead(t, filepath.Join(dir, "r.json")); after != before {
		t.Error("the refused sign rewrote the manifest")
	}
	r = runOtactl(t, dir, nil, "", "release", "sign", "r.json", "--sign", "file:ed.pem", "--expires", "720h")
	if r.code != 0 || !strings.Contains(r.stderr, "dropped 1 signature") {
		t.Fatalf("sign --expires: exit %d, stderr %q", r.code, keys.Redact(r.stderr))
	}
	if r := runOtactl(t, dir, nil, "", "key", "export", "file:ed.pem", "--out", "ed.pub"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := runOtactl(t, dir, nil, "", "release", "verify", "r.json", "--pubkey", "ed.pub"); r.code != 0 {
		t.Errorf("verify after sign --expires: exit %d %s", r.code, keys.Redact(r.stderr))
	}
	if r := runOtactl(t, dir, nil, "", "release", "sign", "r.json", "--sign", "file:ed.pem", "--expires", "2020-01-01T00:00:00Z"); r.code != ExitUsage {
		t.Errorf("sign --expires in the past: exit %d %s", r.code, keys.Redact(r.stderr))
	}
}

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

// forEachSignerAlg runs check in parallel subtests, one per algorithm,
// each in signerSetup's folder with its keys.
func forEachSignerAlg(t *testing.T, check func(t *testing.T, alg, dir, priv, pub string)) {
	t.Parallel()
	for _, a := range signerAlgs {
		t.Run(a.alg, func(t *testing.T) {
			t.Parallel()
			dir, priv, pub := signerSetup(t, a.alg, a.file)
			check(t, a.alg, dir, priv, pub)
		})
	}
}

// TestExecSignerGetsDefaultSIGPIPE: otactl catches SIGPIPE (main.go), and
// a signer it starts must get the default back, or a pipeline in a signer
// script (`... | head -1`) would fail on EPIPE where it works in a shell.
func TestExecSignerGetsDefaultSIGPIPE(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status to read a signal mask from")
	}
	dir, priv, pub := signerSetup(t, "ed25519", "-algorithm ed25519")
	check := "#!/bin/sh\nign=$(awk '/^SigIgn/ {print $2}' /proc/$$/status)\n" +
		"if [ $(( 0x$ign & 0x1000 )) -ne 0 ]; then echo 'SIGPIPE is ignored in the signer' >&2; exit 1; fi\n" +
		"exec ./openssl-signer.sh \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "check-signer.sh"), []byte(check), 0o755); err != nil {
		t.Fatal(err)
	}
	r := runOtactl(t, dir, []string{"TMPDIR=" + dir}, "", "release", "create", "-c", "main@1.2.3=app.bin", "--out", "created.json",
		"--sign", "exec:./check-signer.sh "+filepath.Base(priv), "--signer-pubkey", pub)
	if r.code != 0 {
		t.Fatalf("release create --sign exec: exit %d\n%s", r.code, r.stderr)
	}
}

func TestExecSignerWithOpenssl(t *testing.T) {
	forEachSignerAlg(t, func(t *testing.T, alg, dir, priv, pub string) {
		// mktemp in the script writes under TMPDIR: the test's folder.
		env := []string{"TMPDIR=" + dir}
		signer := "exec:./openssl-signer.sh " + filepath.Base(priv)
		r := runOtactl(t, dir, env, "", "release", "create", "-c", "main@1.2.3=app.bin", "--out", "created.json",
			"--sign", signer, "--signer-pubkey", pub)
		if r.code != 0 {
			t.Fatalf("release create --sign exec: exit %d\n%s", r.code, r.stderr)
		}
		m := readManifest(t, filepath.Join(dir, "created.json"))
		if len(m.Signatures) != 1 || m.Signatures[0].Alg != alg {
			t.Fatalf("signatures %+v, want one %s", m.Signatures, alg)
		}
		opensslVerifySignatures(t, dir, m, map[string]string{alg: pub})

		// release sign in place, with the public key from the profile.
		config := "OTACTL_CONFIG=" + filepath.Join(dir, "config.json")
		if r := runOtactl(t, dir, []string{config}, "", "config", "set", "signer-pubkey", pub); r.code != 0 {
			t.Fatalf("config set signer-pubkey: exit %d\n%s", r.code, r.stderr)
		}
		r = runOtactl(t, dir, append(env, config), "", "release", "sign", "release.json", "--sign", signer)
		if r.code != 0 {
			t.Fatalf("release sign --key exec: with the profile's signer-pubkey: exit %d\n%s", r.code, r.stderr)
		}
		m = readManifest(t, filepath.Join(dir, "release.json"))
		if len(m.Signatures) != 1 {
			t.Fatalf("signatures %+v, want one", m.Signatures)
		}
		opensslVerifySignatures(t, dir, m, map[string]string{alg: pub})
	})
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
		{"another key's signature", "exec:./openssl-signer.sh " + filepath.Base(other), 3, "signer openssl-signer.sh: verification failed: bad ecdsa-p256 signature by key"},
		{"not a signature", `exec:sh -c "cat >/dev/null; echo not a signature"`, 3, "neither ASN.1 DER nor 64 bytes r||s"},
		{"signer fails", `exec:sh -c "echo token locked >&2; exit 2"`, 1, "signer sh failed: exit status 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runOtactl(t, dir, env, "", "release", "sign", "release.json", "--sign", c.signer, "--signer-pubkey", pub)
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
	r := runOtactl(t, dir, env, "", "release", "sign", "release.json", "--sign", "exec:sh")
	if r.code != 2 || !strings.Contains(r.stderr, "--sign: the exec: signer needs its public key: --signer-pubkey KEYREF") || !strings.Contains(r.stderr, "hint: give it once with --signer-pubkey FILE") {
		t.Errorf("exec: without a public key: exit %d\n%s", r.code, r.stderr)
	}
	r = runOtactl(t, dir, nil, "", "release", "sign", "release.json", "--sign", "file:other.pem", "--signer-pubkey", pub)
	if r.code != 2 || !strings.Contains(r.stderr, "--signer-pubkey is the public key of an exec: signer, and --sign names none") {
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
	forEachSignerAlg(t, func(t *testing.T, alg, dir, priv, pub string) {
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
		if alg == "ecdsa-p256" {
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
			opensslVerifySignatures(t, dir, got, map[string]string{alg: pub})
		}
		r = runOtactl(t, dir, nil, "", "release", "verify", "release.json", "--pubkey", pub)
		if r.code != 0 {
			t.Errorf("release verify after attach: exit %d\n%s", r.code, r.stderr)
		}
	})
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
