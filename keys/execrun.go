package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/release"
)

// ExecSigner signs release digests with an external program (exec:COMMAND):
// the digest goes to the program's standard input and the signature comes
// from its standard output. Its public key is given once, so the key id is
// known before the program runs and the signature is verified after.
type ExecSigner struct {
	argv    []string
	name    string // the program's base name, for messages
	pub     crypto.PublicKey
	alg, id string
	input   string
	output  string
	timeout time.Duration
	// Stderr receives the program's standard error, each line prefixed
	// with "signer NAME: ". Nil is os.Stderr.
	Stderr io.Writer
}

// Public is the public key given for the signer.
func (e *ExecSigner) Public() crypto.PublicKey { return e.pub }

// Sign signs an Ed25519 message (opts.HashFunc() == 0). An ECDSA
// signature is made over the release digest by SignMessage: the program
// is given the digest, never a pre-hash.
func (e *ExecSigner) Sign(r io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != 0 {
		return nil, errors.New("an exec: signer signs the release digest itself (SignMessage), not a pre-hashed value")
	}
	return e.SignMessage(r, msg, opts)
}

// SignMessage runs the program with msg (the 32-byte release digest) on
// its standard input, and returns the signature it writes, decoded as the
// manifest carries it. A program that fails, times out or writes nothing
// is an error; output that is not a signature of the key's algorithm is
// an error wrapping release.ErrVerification, and so is a signature that
// does not verify with the public key over msg (a 32-byte digest).
func (e *ExecSigner) SignMessage(_ io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	if len(msg) != sha256.Size {
		return nil, fmt.Errorf("signer %s: signs a %d-byte release digest, not %d bytes", e.name, sha256.Size, len(msg))
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.argv[0], e.argv[1:]...)
	cmd.Stdin = bytes.NewReader(encodeDigest(msg, e.input))
	out := &cappedBuffer{max: maxSignerOutput}
	cmd.Stdout = out
	stderr := e.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	errw := &prefixWriter{w: stderr, prefix: "signer " + e.name + ": "}
	cmd.Stderr = errw
	cmd.Env = append(signerEnviron(),
		EnvSignerProtocol+"="+SignerProtocol,
		EnvSignerInput+"="+e.input,
		EnvSignerOutput+"="+e.output,
		EnvSignerAlg+"="+e.alg,
		EnvSignerKeyID+"="+e.id,
		EnvSignerDigest+"="+hex.EncodeToString(msg),
	)
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	errw.Flush()
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return nil, hint.Wrap(fmt.Errorf("signer %s: no signature after %s, stopped", e.name, e.timeout),
			"give it longer with "+EnvSignerTimeout+"=5m (a hardware token may wait for a touch or a PIN)")
	case errors.As(err, &exitErr):
		return nil, fmt.Errorf("signer %s failed: exit status %d", e.name, exitErr.ExitCode())
	case err != nil:
		return nil, fmt.Errorf("signer %s: %w", e.name, err)
	case out.over:
		return nil, fmt.Errorf("%w: signer %s wrote more than %d bytes on standard output", release.ErrVerification, e.name, maxSignerOutput)
	case out.buf.Len() == 0:
		return nil, fmt.Errorf("signer %s wrote no signature on standard output", e.name)
	}
	sig, err := release.DecodeSignature(e.alg, out.buf.Bytes(), e.output)
	if err != nil {
		return nil, fmt.Errorf("%w: signer %s: %v (read as %s=%s)", release.ErrVerification, e.name, err, EnvSignerOutput, e.output)
	}
	s := release.Signature{KeyID: e.id, Alg: e.alg, Sig: base64.StdEncoding.EncodeToString(sig)}
	if err := release.VerifySignature(e.pub, [sha256.Size]byte(msg), s); err != nil {
		return nil, fmt.Errorf("signer %s: %w", e.name, err)
	}
	return sig, nil
}

// encodeDigest is the digest as the program reads it: raw bytes, or hex
// or base64 text ending in a newline.
func encodeDigest(d []byte, input string) []byte {
	switch input {
	case InputHex:
		return []byte(hex.EncodeToString(d) + "\n")
	case InputBase64:
		return []byte(base64.StdEncoding.EncodeToString(d) + "\n")
	}
	return d
}

// cappedBuffer keeps the first max bytes written to it and notes more.
// (It has no ReadFrom, so io.Copy goes through Write.)
type cappedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := b.max - b.buf.Len(); n > room {
		b.over = true
		p = p[:max(room, 0)]
	}
	b.buf.Write(p)
	return n, nil
}

// prefixWriter writes each line with prefix, made printable.
type prefixWriter struct {
	w      io.Writer
	prefix string
	line   []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	for _, c := range b {
		if c == '\n' {
			p.emit()
			continue
		}
		if len(p.line) < 4096 {
			p.line = append(p.line, c)
		}
	}
	return len(b), nil
}

// Flush writes a last line that has no line break.
func (p *prefixWriter) Flush() {
	if len(p.line) > 0 {
		p.emit()
	}
}

func (p *prefixWriter) emit() {
	fmt.Fprintln(p.w, p.prefix+text.Printable(strings.TrimRight(string(p.line), "\r")))
	p.line = p.line[:0]
}

// signerEnviron is otactl's environment less its own secrets (the broker
// password, a signing key, a token PIN): a signer program, often another
// vendor's tool, gets what it needs and nothing of those.
func signerEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "OTACTL_PASSWORD", DefaultKeyEnv, "OTACTL_PKCS11_PIN":
			continue
		}
		env = append(env, kv)
	}
	return env
}
