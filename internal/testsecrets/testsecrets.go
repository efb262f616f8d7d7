// Package testsecrets lets tests prove that otactl never prints a secret.
// A test that makes a private key or a password registers it; the
// harnesses that run otactl (the built binary or commands.Main) check
// everything it printed against every registered secret, and
// scripts/test-in-session scans the whole suite's output (t.Log and broker
// logs too) for them after the run. Failures name a secret's label, never
// the secret.
package testsecrets

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// FileEnv names the file that Register appends every secret to, one per
// line, for the scan after the run (see ReadFile). scripts/test-in-session
// sets it to a file in its own temporary folder.
const FileEnv = "OTACTL_TEST_SECRETS_FILE"

// MinLen is the shortest secret that can be looked for without matching
// ordinary output by chance.
const MinLen = 8

// needle is one string whose appearance in output is a leak.
type needle struct {
	label string
	text  string
}

var (
	mu      sync.Mutex
	needles []needle
	seen    = map[string]bool{}
)

// Register records secret, a password or other secret text, under label
// (which failures show). It fails the test when secret is shorter than
// MinLen: use longer, distinctive test passwords.
func Register(t testing.TB, label, secret string) {
	t.Helper()
	if len(secret) < MinLen {
		t.Fatalf("testsecrets: secret %q is shorter than %d bytes: too short to look for in output", label, MinLen)
		return
	}
	if err := add(label, secret); err != nil {
		t.Fatal(err)
	}
}

// RegisterKey records a private key (ed25519.PrivateKey or
// *ecdsa.PrivateKey) in every form it could leak in: its PKCS#8 and SEC1
// PEM body lines and one-line base64, the base64 of the PEM (the env: form)
// and the raw private bytes in hex and base64.
func RegisterKey(t testing.TB, label string, key any) {
	t.Helper()
	ns, err := keyNeedles(key)
	if err == nil {
		err = add(label, ns...)
	}
	if err != nil {
		t.Fatalf("testsecrets: %s: %v", label, err)
	}
}

// RegisterPEM records the private key in PEM text (in any form otactl
// reads) as RegisterKey does, and the text's own lines.
func RegisterPEM(t testing.TB, label string, pemText []byte) {
	t.Helper()
	if err := add(label, pemNeedles(pemText)...); err != nil {
		t.Fatal(err)
	}
}

// Observe records a secret seen where no test is at hand, such as a fake
// keyring's Set: PEM text as RegisterPEM does, other text of MinLen bytes
// or more as Register does; shorter text is not looked for. It panics when
// the secrets file cannot be written.
func Observe(label, secret string) {
	var ns []string
	switch {
	case strings.Contains(secret, "-----BEGIN"):
		ns = pemNeedles([]byte(secret))
	case len(secret) >= MinLen:
		ns = []string{secret}
	}
	if err := add(label, ns...); err != nil {
		panic(err)
	}
}

func keyNeedles(key any) ([]string, error) {
	var secret []byte // the private scalar or seed
	var ns []string
	type block struct {
		typ string
		der []byte
	}
	var blocks []block
	switch k := key.(type) {
	case ed25519.PrivateKey:
		secret = k.Seed()
		ns = append(ns, hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k))
	case *ecdsa.PrivateKey:
		d, err := k.Bytes()
		if err != nil {
			return nil, err
		}
		secret = d
		sec1, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, block{"EC PRIVATE KEY", sec1})
	default:
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	blocks = append(blocks, block{"PRIVATE KEY", p8})
	ns = append(ns, hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret), base64.RawURLEncoding.EncodeToString(secret))
	for _, b := range blocks {
		ns = append(ns, blockNeedles(b.typ, b.der, secret)...)
	}
	return ns, nil
}

// pemNeedles are the needles of the private key blocks in PEM text (of the
// key's, when otactl can read it) and the base64 of the whole text (the
// one-line form an env: variable may hold).
func pemNeedles(pemText []byte) []string {
	var ns []string
	for rest := pemText; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if !strings.Contains(blk.Type, "PRIVATE KEY") {
			continue
		}
		var key any
		switch blk.Type {
		case "PRIVATE KEY":
			key, _ = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			key, _ = x509.ParseECPrivateKey(blk.Bytes)
		}
		if kn, err := keyNeedles(key); err == nil {
			ns = append(ns, kn...)
		}
		// The block as written, which may differ from Go's encoding; all
		// of it for a key otactl cannot read (encrypted, RSA).
		ns = append(ns, blockNeedles(blk.Type, blk.Bytes, secretOf(key, blk.Bytes))...)
	}
	return append(ns, base64.StdEncoding.EncodeToString(pemText))
}

// secretOf is the private scalar or seed of key, or def when key is not
// one otactl reads.
func secretOf(key any, def []byte) []byte {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return k.Seed()
	case *ecdsa.PrivateKey:
		if d, err := k.Bytes(); err == nil {
			return d
		}
	}
	return def
}

// blockNeedles are the one-line base64 of a private key block's DER and of
// its PEM text, and those of its PEM lines (64 characters, as Go and
// openssl wrap them) that encode some of the secret bytes: the lines that
// hold only the public key are left out, since otactl prints public keys.
func blockNeedles(typ string, der, secret []byte) []string {
	pemText := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	ns := []string{base64.StdEncoding.EncodeToString(der), base64.StdEncoding.EncodeToString(pemText)}
	from := bytes.Index(der, secret)
	to := from + len(secret)
	if from < 0 {
		from, to = 0, len(der)
	}
	const lineBytes = 48 // 64 base64 characters
	for i, line := range strings.Split(string(pemText), "\n") {
		if strings.HasPrefix(line, "-----") || line == "" {
			continue
		}
		start := (i - 1) * lineBytes // line 0 is the BEGIN line
		if start < to && start+lineBytes > from && len(line) >= 16 {
			ns = append(ns, line)
		}
	}
	return ns
}

// add records texts under label, and appends them to the secrets file when
// FileEnv names one.
func add(label string, texts ...string) error {
	mu.Lock()
	defer mu.Unlock()
	var lines strings.Builder
	for _, text := range texts {
		if text == "" || seen[text] {
			continue
		}
		seen[text] = true
		needles = append(needles, needle{label: label, text: text})
		lines.WriteString(encodeLine(label, text))
	}
	path := os.Getenv(FileEnv)
	if path == "" || lines.Len() == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("testsecrets: %w", err)
	}
	// One write: appends from parallel test binaries do not interleave.
	_, err = f.WriteString(lines.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("testsecrets: %w", err)
	}
	return nil
}

// encodeLine is a secrets file line: the label and the secret in hex.
func encodeLine(label, text string) string {
	return strings.NewReplacer("\t", " ", "\n", " ").Replace(label) + "\t" + hex.EncodeToString([]byte(text)) + "\n"
}

// Find returns the labels of the registered secrets that occur in out,
// each once, in the order they were registered.
func Find(out string) []string {
	mu.Lock()
	defer mu.Unlock()
	return find(needles, out)
}

func find(ns []needle, out string) []string {
	var labels []string
	found := map[string]bool{}
	for _, n := range ns {
		if !found[n.label] && strings.Contains(out, n.text) {
			found[n.label] = true
			labels = append(labels, n.label)
		}
	}
	return labels
}

// Check fails t when any of outputs holds a registered secret, naming the
// secret's label and what (where) printed it, never the secret.
func Check(t testing.TB, where string, outputs ...string) {
	t.Helper()
	for _, out := range outputs {
		if labels := Find(out); len(labels) > 0 {
			t.Errorf("secret leak: %s printed %s", where, strings.Join(labels, ", "))
		}
	}
}

// Scanner looks for the secrets of a secrets file in output.
type Scanner struct {
	needles []needle
}

// ReadFile reads the secrets file the tests wrote (FileEnv). A missing
// file means no test registered a secret.
func ReadFile(path string) (*Scanner, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return &Scanner{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &Scanner{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		label, hx, ok := strings.Cut(sc.Text(), "\t")
		b, err := hex.DecodeString(hx)
		if !ok || err != nil || len(b) == 0 {
			return nil, fmt.Errorf("%s: line %d is not LABEL<tab>HEX", path, n)
		}
		s.needles = append(s.needles, needle{label: label, text: string(b)})
	}
	return s, sc.Err()
}

// Len is the number of strings looked for.
func (s *Scanner) Len() int { return len(s.needles) }

// Find returns the labels of the secrets in out.
func (s *Scanner) Find(out []byte) []string {
	if len(s.needles) == 0 || len(bytes.TrimSpace(out)) == 0 {
		return nil
	}
	return find(s.needles, string(out))
}
