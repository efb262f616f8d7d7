package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The GitHub Action (action.yml) runs scripts/install-action: these tests
// run it as the action does, against release files served locally.

// releaseFiles builds otactl (stamped with version) and serves it as a
// release: the archive for linux/amd64, checksums.txt and a release
// manifest signed with a throwaway key, whose public key it returns.
func releaseFiles(t *testing.T, version string) (url, archive, pubkey string, files *served) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "otactl")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X github.com/otactl/otactl/commands.version="+version, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	tgz := packed(t, exe)
	archive = "otactl_" + version + "_linux_amd64.tar.gz"
	archivePath := filepath.Join(dir, archive)
	if err := os.WriteFile(archivePath, tgz, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tgz)
	key, pub := filepath.Join(dir, "k.pem"), filepath.Join(dir, "k.pub.pem")
	for _, args := range [][]string{
		{"genpkey", "-algorithm", "ed25519", "-out", key},
		{"pkey", "-in", key, "-pubout", "-out", pub},
	} {
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	manifest := filepath.Join(dir, "otactl-release.json")
	if out, err := exec.Command(bin, "release", "create", "-c", "otactl_linux_amd64@"+version+"="+archivePath,
		"--sequence", "1000", "--sign", "file:"+key, "--out", manifest).CombinedOutput(); err != nil {
		t.Fatalf("release create: %v\n%s", err, out)
	}
	pubPEM, _ := os.ReadFile(pub)
	signed, _ := os.ReadFile(manifest)
	files = &served{files: map[string][]byte{
		archive:               tgz,
		"checksums.txt":       []byte(hex.EncodeToString(sum[:]) + "  " + archive + "\n"),
		"otactl-release.json": signed,
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files.get(strings.TrimPrefix(r.URL.Path, "/"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, archive, string(pubPEM), files
}

// served are the files a test's release server serves, changed while it
// runs.
type served struct {
	mu    sync.Mutex
	files map[string][]byte
}

func (s *served) get(name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.files[name]
	return b, ok
}

func (s *served) set(name string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = b
}

// packed is a .tar.gz holding exe as otactl.
func packed(t *testing.T, exe []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "otactl", Mode: 0o755, Size: int64(len(exe))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(exe); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// runAction runs the action's script with GitHub's files in a folder of
// its own and returns what it wrote to each, its output and its error.
func runAction(t *testing.T, env map[string]string, args ...string) (map[string]string, string, error) {
	t.Helper()
	dir := t.TempDir()
	gh := map[string]string{"GITHUB_PATH": "", "GITHUB_ENV": "", "GITHUB_OUTPUT": ""}
	cmd := exec.Command("bash", append([]string{"scripts/install-action"}, args...)...)
	cmd.Env = append(os.Environ(), "OTACTL_INSTALL_DIR="+filepath.Join(dir, "bin"))
	for k := range gh {
		cmd.Env = append(cmd.Env, k+"="+filepath.Join(dir, k))
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	for k := range gh {
		b, _ := os.ReadFile(filepath.Join(dir, k))
		gh[k] = string(b)
	}
	return gh, string(out), err
}

func TestActionInstalls(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	url, archive, pub, files := releaseFiles(t, "1.4.0")
	env := map[string]string{"OTACTL_INSTALL_VERSION": "v1.4.0", "OTACTL_INSTALL_URL": url,
		"OTACTL_INSTALL_OS": "Linux", "OTACTL_INSTALL_ARCH": "X64", "OTACTL_INSTALL_PUBKEY": pub}

	gh, out, err := runAction(t, env)
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	binDir := strings.TrimSpace(gh["GITHUB_PATH"])
	if v, err := exec.Command(filepath.Join(binDir, "otactl"), "--version").Output(); err != nil || !strings.HasPrefix(string(v), "otactl 1.4.0 ") {
		t.Fatalf("the installed otactl says %q (%v)", v, err)
	}
	if !strings.HasPrefix(gh["GITHUB_OUTPUT"], "version=otactl 1.4.0 ") {
		t.Errorf("GITHUB_OUTPUT %q", gh["GITHUB_OUTPUT"])
	}

	// A tampered archive is refused, by the checksum and by the signed
	// manifest, and nothing is installed.
	good, _ := files.get(archive)
	exe, err := os.ReadFile(filepath.Join(binDir, "otactl"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := packed(t, append(exe, 0))
	files.set(archive, tampered)
	gh, out, err = runAction(t, env)
	if err == nil || gh["GITHUB_PATH"] != "" || !strings.Contains(out, "::error::otactl action: "+archive+" has SHA-256") {
		t.Errorf("tampered archive: err %v, GITHUB_PATH %q\n%s", err, gh["GITHUB_PATH"], out)
	}
	sum := sha256.Sum256(tampered)
	files.set("checksums.txt", []byte(hex.EncodeToString(sum[:])+"  "+archive+"\n"))
	gh, out, err = runAction(t, env)
	if err == nil || gh["GITHUB_PATH"] != "" || !strings.Contains(out, "the signed release manifest does not vouch for "+archive) {
		t.Errorf("tampered archive and checksums: err %v, GITHUB_PATH %q\n%s", err, gh["GITHUB_PATH"], out)
	}
	// A binary that says yes to everything cannot vouch for itself: the
	// manifest is checked with jq and openssl, not with what was
	// downloaded.
	liar := packed(t, []byte("#!/bin/sh\necho 'otactl 1.4.0 (lying)'\nexit 0\n"))
	files.set(archive, liar)
	sum = sha256.Sum256(liar)
	files.set("checksums.txt", []byte(hex.EncodeToString(sum[:])+"  "+archive+"\n"))
	gh, out, err = runAction(t, env)
	if err == nil || gh["GITHUB_PATH"] != "" || !strings.Contains(out, "the signed release manifest does not vouch for "+archive) {
		t.Errorf("a lying binary: err %v, GITHUB_PATH %q\n%s", err, gh["GITHUB_PATH"], out)
	}
	files.set(archive, good)

	for _, bad := range []map[string]string{
		{"OTACTL_INSTALL_VERSION": "1.4.0; rm -rf /"},
		{"OTACTL_INSTALL_ARCH": "S390X"},
		{"OTACTL_INSTALL_VERSION": "9.9.9"},
	} {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for k, v := range bad {
			e[k] = v
		}
		if gh, out, err := runAction(t, e); err == nil || gh["GITHUB_PATH"] != "" || !strings.Contains(out, "::error::") {
			t.Errorf("%v: err %v, GITHUB_PATH %q\n%s", bad, err, gh["GITHUB_PATH"], out)
		}
	}
}

func TestActionExportsSecretsMasked(t *testing.T) {
	key := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIGd0ZXN0LW9ubHktbm90LWEtcmVhbC1rZXktMTIzNA==\n-----END PRIVATE KEY-----"
	gh, out, err := runAction(t, map[string]string{"IN_BROKER": "mqtts://b.example:8883", "IN_PASSWORD": "s3cret pw",
		"IN_SIGNING_KEY": key}, "--env")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, line := range append(strings.Split(key, "\n"), "s3cret pw") {
		if !strings.Contains(out, "::add-mask::"+line+"\n") {
			t.Errorf("not masked: %q\n%s", line, out)
		}
	}
	if strings.Contains(out, "mqtts://b.example") {
		t.Errorf("the broker was masked or printed:\n%s", out)
	}
	// GitHub's multi-line form: NAME<<DELIM, the value, DELIM.
	vars := map[string]string{}
	lines := strings.Split(gh["GITHUB_ENV"], "\n")
	for i := 0; i < len(lines); i++ {
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			continue
		}
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		vars[name] = strings.Join(val, "\n")
	}
	want := map[string]string{"OTACTL_BROKER": "mqtts://b.example:8883", "OTACTL_PASSWORD": "s3cret pw", "OTACTL_SIGNING_KEY": key}
	if len(vars) != len(want) {
		t.Errorf("GITHUB_ENV sets %d variables, want %d:\n%s", len(vars), len(want), gh["GITHUB_ENV"])
	}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q", k, vars[k], v)
		}
	}
}
