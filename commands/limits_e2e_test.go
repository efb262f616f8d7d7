package commands

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/release"
)

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
		r = runOtactl(t, dir, nil, "", "release", "sign", file, "--key", "file:ed.pem", "--out", "-")
		if r.code != tc.signCode || tc.signCode != 0 && !strings.Contains(r.stderr, wantMsg) {
			t.Errorf("sign of size %d: exit %d, stderr %q; want exit %d and %q", tc.size, r.code, keys.Redact(r.stderr), tc.signCode, wantMsg)
		}
	}
}
