package release

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var beforeExpiry = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func vectorKeys(t *testing.T) (ed, ec crypto.PublicKey) {
	return loadSigner(t, "vector-ed25519.pem").Public(), loadSigner(t, "vector-ecdsa-p256.pem").Public()
}

func statuses(v Verdict) string {
	var s []string
	for _, c := range v.Signatures {
		s = append(s, c.KeyID+":"+c.Status)
	}
	return strings.Join(s, " ")
}

func TestVerify(t *testing.T) {
	ed, ec := vectorKeys(t)
	other := loadSignerFromSeed(t)
	tests := []struct {
		name     string
		edit     func(m *Manifest)
		opts     VerifyOptions
		ok       bool
		valid    int
		thresh   int
		statuses string
		problems []string
	}{
		{"both keys, threshold 2", nil, VerifyOptions{Keys: []crypto.PublicKey{ed, ec}, Threshold: 2}, true, 2, 2,
			"06e3fd8fda29bb60:valid 0788629393c6ff38:valid", nil},
		{"one key, default threshold", nil, VerifyOptions{Keys: []crypto.PublicKey{ec}}, true, 1, 1,
			"06e3fd8fda29bb60:unknown key 0788629393c6ff38:valid", nil},
		{"no keys", nil, VerifyOptions{}, true, 0, 0,
			"06e3fd8fda29bb60:unknown key 0788629393c6ff38:unknown key", nil},
		{"only an unknown key", nil, VerifyOptions{Keys: []crypto.PublicKey{other}}, false, 0, 1, "",
			[]string{"0 valid signatures by trusted keys, 1 needed"}},
		{"same key twice counts once", nil, VerifyOptions{Keys: []crypto.PublicKey{ed, ed}, Threshold: 2}, false, 1, 2, "",
			[]string{"threshold 2 is more than the 1 trusted keys given"}},
		{"threshold above keys", nil, VerifyOptions{Keys: []crypto.PublicKey{ed, ec}, Threshold: 3}, false, 2, 3, "",
			[]string{"threshold 3 is more than the 2 trusted keys given"}},
		{"negative threshold", nil, VerifyOptions{Threshold: -1}, false, 0, -1, "", []string{"threshold -1 is negative"}},
		{"unsigned", func(m *Manifest) { m.Signatures = nil }, VerifyOptions{Keys: []crypto.PublicKey{ed}}, false, 0, 1, "",
			[]string{"the manifest is not signed: 1 valid signatures needed"}},
		{"unsigned, no keys", func(m *Manifest) { m.Signatures = nil }, VerifyOptions{}, true, 0, 0, "", nil},
		{"bad signature", func(m *Manifest) { m.Signatures[0].Sig = m.Signatures[1].Sig }, VerifyOptions{Keys: []crypto.PublicKey{ed, ec}}, false, 1, 1,
			"06e3fd8fda29bb60:invalid 0788629393c6ff38:valid", []string{"bad ed25519 signature by key 06e3fd8fda29bb60"}},
		{"tampered component", func(m *Manifest) { m.Components[0].Size = 21 }, VerifyOptions{Keys: []crypto.PublicKey{ed, ec}}, false, 0, 1,
			"06e3fd8fda29bb60:invalid 0788629393c6ff38:invalid", []string{"is not the release digest", "bad ed25519 signature", "bad ecdsa-p256 signature", "0 valid signatures by trusted keys, 1 needed"}},
		{"re-sealed after tampering", func(m *Manifest) { m.SequenceNumber++; m.Hash = m.DigestHex() }, VerifyOptions{Keys: []crypto.PublicKey{ed}}, false, 0, 1, "",
			[]string{"bad ed25519 signature"}},
		{"expired exactly at expires", nil, VerifyOptions{At: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}, false, 0, 0, "",
			[]string{"expired at 2027-01-01T00:00:00Z (checked at 2027-01-01T00:00:00Z)"}},
		{"a second before expiry", nil, VerifyOptions{At: time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)}, true, 0, 0, "", nil},
		{"invalid form", func(m *Manifest) { m.Components[0].URI = "/x" }, VerifyOptions{}, false, 0, 0, "",
			[]string{`uri "/x" should be`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := signedVectorManifest(t)
			if tt.edit != nil {
				tt.edit(m)
			}
			if tt.opts.At.IsZero() {
				tt.opts.At = beforeExpiry
			}
			v := Verify(context.Background(), m, tt.opts)
			if v.OK != tt.ok || v.ValidSignatures != tt.valid || v.Threshold != tt.thresh {
				t.Errorf("ok %v valid %d threshold %d; want %v %d %d; problems %q", v.OK, v.ValidSignatures, v.Threshold, tt.ok, tt.valid, tt.thresh, v.Problems)
			}
			if tt.statuses != "" && statuses(v) != tt.statuses {
				t.Errorf("signatures %q, want %q", statuses(v), tt.statuses)
			}
			all := strings.Join(v.Problems, "\n")
			for _, p := range tt.problems {
				if !strings.Contains(all, p) {
					t.Errorf("problems %q lack %q", v.Problems, p)
				}
			}
			if tt.ok && len(v.Problems) != 0 {
				t.Errorf("ok verdict with problems %q", v.Problems)
			}
			err := v.Err()
			if tt.ok != (err == nil) {
				t.Errorf("Err() = %v with ok %v", err, v.OK)
			}
			if err != nil {
				if !errors.Is(err, ErrVerification) {
					t.Errorf("Err() = %v does not wrap ErrVerification", err)
				}
				for _, p := range v.Problems {
					if !strings.Contains(err.Error(), p) {
						t.Errorf("Err() = %v does not name %q", err, p)
					}
				}
			}
		})
	}
}

// loadSignerFromSeed is a key that signed nothing in the vectors.
func loadSignerFromSeed(t *testing.T) crypto.PublicKey {
	seed := make([]byte, 32)
	seed[0] = 7
	return parsePKCS8(t, pemPKCS8Ed25519(seed)).Public()
}

func TestVerdictJSON(t *testing.T) {
	ed, _ := vectorKeys(t)
	v := Verify(context.Background(), signedVectorManifest(t), VerifyOptions{Keys: []crypto.PublicKey{ed}, At: beforeExpiry})
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ok", "sequenceNumber", "hash", "digest", "digestOk", "signatures", "validSignatures", "threshold", "expires", "expired", "checkedAt", "artifacts", "problems"} {
		if _, ok := got[k]; !ok {
			t.Errorf("verdict JSON lacks %q: %s", k, b)
		}
	}
	if got["problems"] == nil || got["artifacts"] == nil {
		t.Errorf("problems and artifacts must be [] rather than null: %s", b)
	}
	if got["checkedAt"] != "2026-06-01T00:00:00Z" || got["ok"] != true {
		t.Errorf("verdict JSON %s", b)
	}
	sigs := got["signatures"].([]any)
	if s := sigs[1].(map[string]any); s["status"] != SigUnknownKey || s["keyid"] != vectorECKeyID || s["alg"] != AlgECDSAP256 {
		t.Errorf("signature entry %v", s)
	}
}

func artifactDir(t *testing.T, files map[string][]byte) string {
	dir := t.TempDir()
	for name, data := range files {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, name, data)
	}
	return dir
}

func TestMatchArtifacts(t *testing.T) {
	m := vectorManifest()
	single := &Manifest{SequenceNumber: 1, Components: []Component{m.Components[0]}}
	single.Seal()
	main, modem := vectorMainBytes, vectorModemBytes
	twins := &Manifest{SequenceNumber: 1, Components: []Component{
		{Package: "a", Version: "1", Hash: hexSHA256(main), Size: int64(len(main)), URI: ComponentURI("a", "1")},
		{Package: "b", Version: "1", Hash: hexSHA256(main), Size: int64(len(main)), URI: ComponentURI("b", "1")},
	}}
	twins.Seal()
	type want struct{ path, pkg, by, problem string }
	tests := []struct {
		name    string
		m       *Manifest
		files   map[string][]byte // in the folder
		args    []string          // relative to the folder, unless starting with "D:" (the folder itself)
		dir     bool
		want    []want
		wantErr string
	}{
		{"explicit", m, map[string][]byte{"a": main, "b": modem}, []string{"main=a", "modem@2.0.1.7=b"}, false,
			[]want{{"a", "main", ByExplicit, ""}, {"b", "modem", ByExplicit, ""}}, ""},
		{"explicit wrong version", m, map[string][]byte{"a": main}, []string{"main@1.2.4=a"}, false,
			[]want{{"a", "main", ByExplicit, "was given for main@1.2.4 but the manifest has main@1.2.3"}}, ""},
		{"explicit wrong bytes", m, map[string][]byte{"a": modem}, []string{"main=a"}, false,
			[]want{{"a", "main", ByExplicit, "is 23 bytes but component main is 20"}}, ""},
		{"explicit same size other bytes", m, map[string][]byte{"a": []byte("main firmware 1.2.4\n")}, []string{"main=a"}, false,
			[]want{{"a", "main", ByExplicit, "has sha256"}}, ""},
		{"explicit unknown package", m, map[string][]byte{"a": main}, []string{"boot=a"}, false, nil,
			"the manifest has no package boot (it has main, modem)"},
		{"explicit bad name", m, map[string][]byte{"a": main}, []string{"b@d@x=a"}, false, nil, "invalid version"},
		{"single file, single component", single, map[string][]byte{"zephyr.signed.bin": main}, []string{"zephyr.signed.bin"}, false,
			[]want{{"zephyr.signed.bin", "main", BySingle, ""}}, ""},
		{"single file, wrong bytes", single, map[string][]byte{"x.bin": modem}, []string{"x.bin"}, false,
			[]want{{"x.bin", "main", BySingle, "is 23 bytes"}}, ""},
		{"by name", m, map[string][]byte{"main@1.2.3.bin": main, "modem.hex.gz": modem}, []string{"modem.hex.gz", "main@1.2.3.bin"}, false,
			[]want{{"modem.hex.gz", "modem", ByName, ""}, {"main@1.2.3.bin", "main", ByName, ""}}, ""},
		{"by name, wrong bytes", m, map[string][]byte{"main.bin": modem}, []string{"main.bin"}, false,
			[]want{{"main.bin", "main", ByName, "is 23 bytes"}}, ""},
		{"by content", m, map[string][]byte{"x": modem, "y": main}, []string{"x", "y"}, false,
			[]want{{"x", "modem", ByContent, ""}, {"y", "main", ByContent, ""}}, ""},
		{"same bytes in two packages", twins, map[string][]byte{"x": main, "y": main}, []string{"x", "y"}, false,
			[]want{{"x", "a", ByContent, ""}, {"y", "b", ByContent, ""}}, ""},
		{"matches nothing", m, map[string][]byte{"x": []byte("other")}, []string{"x"}, false,
			[]want{{"x", "", "", "matches no component by name, size or hash"}}, ""},
		{"path with '='", m, map[string][]byte{"a=b.bin": main}, []string{"./a=b.bin"}, false,
			[]want{{"./a=b.bin", "main", ByContent, ""}}, ""},
		{"two files for one component", m, map[string][]byte{"main.bin": main, "x": main}, []string{"main.bin", "x"}, false, nil,
			"two artifacts for package main"},
		{"missing file", m, nil, []string{"main=nope"}, false, nil, "no such file"},
		{"folder", m, map[string][]byte{"main@1.2.3.bin": main, "modem.bin": modem, "release.json": []byte("{}"), "notes.txt": nil}, nil, true,
			[]want{{"D:main@1.2.3.bin", "main", ByDir, ""}, {"D:modem.bin", "modem", ByDir, ""}}, ""},
		{"folder prefers PACKAGE@VERSION", m, map[string][]byte{"main@1.2.3.bin": main, "main.bin": modem}, nil, true,
			[]want{{"D:main@1.2.3.bin", "main", ByDir, ""}}, ""},
		{"folder with explicit file", m, map[string][]byte{"main.bin": modem, "m": main}, []string{"main=m"}, true,
			[]want{{"m", "main", ByExplicit, ""}}, ""},
		{"folder searches subfolders by name", m, map[string][]byte{"out/main@1.2.3.bin": main, "modem/fw/modem.hex": modem}, nil, true,
			[]want{{"D:out/main@1.2.3.bin", "main", ByDir, ""}, {"D:modem/fw/modem.hex", "modem", ByDir, ""}}, ""},
		{"folder finds a build tree's image by content", single, map[string][]byte{
			"zephyr/zephyr.signed.bin": main, "zephyr/zephyr.bin": []byte("main firmware 1.2.4\n"), "CMakeCache.txt": modem}, nil, true,
			[]want{{"D:zephyr/zephyr.signed.bin", "main", ByDir, ""}}, ""},
		{"folder content needs the same bytes", single, map[string][]byte{"zephyr/zephyr.bin": []byte("main firmware 1.2.4\n")}, nil, true,
			nil, ""},
		{"folder leaves out hidden folders", single, map[string][]byte{".git/main.bin": main, ".cache/x": main}, nil, true,
			nil, ""},
		{"folder ambiguous across subfolders", m, map[string][]byte{"a/main.bin": main, "b/main.bin": main}, nil, true, nil,
			"has several files for main@1.2.3: a/main.bin, b/main.bin"},
		{"folder ambiguous", m, map[string][]byte{"main.bin": main, "main.hex": main}, nil, true, nil,
			"has several files for main@1.2.3: main.bin, main.hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := artifactDir(t, tt.files)
			t.Chdir(dir)
			d := ""
			if tt.dir {
				d = dir
			}
			got, err := MatchArtifacts(context.Background(), tt.m, tt.args, d)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("MatchArtifacts = %+v, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i, w := range tt.want {
				g := got[i]
				path := w.path
				if p, ok := strings.CutPrefix(path, "D:"); ok {
					path = filepath.Join(dir, p)
				}
				if g.Path != path || g.Package != w.pkg || g.By != w.by || !strings.Contains(g.Problem, w.problem) || (w.problem == "") != g.OK {
					t.Errorf("match %d = %+v, want %+v", i, g, w)
				}
				if data, err := os.ReadFile(g.Path); err != nil || g.Hash != hexSHA256(data) || g.Size != int64(len(data)) {
					t.Errorf("match %d hash %s size %d wrong (%v)", i, g.Hash, g.Size, err)
				}
			}
		})
	}
}

func TestComponentByNamePrefersLongestPackage(t *testing.T) {
	m := &Manifest{Components: []Component{{Package: "main", Version: "1"}, {Package: "main.boot", Version: "2"}}}
	for name, want := range map[string]string{"main.boot.bin": "main.boot", "main.bin": "main", "main@1.hex": "main", "main.boot@2": "main.boot", "mainx.bin": ""} {
		got := ""
		if c := componentByName(m, name); c != nil {
			got = c.Package
		}
		if got != want {
			t.Errorf("%s names %q, want %q", name, got, want)
		}
	}
}

func TestVerifyArtifacts(t *testing.T) {
	m := signedVectorManifest(t)
	dir := artifactDir(t, map[string][]byte{"main@1.2.3.bin": vectorMainBytes})
	v := Verify(context.Background(), m, VerifyOptions{ArtifactsDir: dir, At: beforeExpiry})
	// It says what it looked for.
	if v.OK || len(v.Artifacts) != 1 || !strings.Contains(strings.Join(v.Problems, "\n"),
		"no artifact for component modem@2.0.1.7 in the artifacts folder or its subfolders: looked for modem@2.0.1.7[.EXT] and modem[.EXT] by name, and for a file of 23 bytes with its sha256") {
		t.Errorf("verdict %+v", v)
	}
	writeFile(t, dir, "modem.bin", vectorModemBytes)
	if v := Verify(context.Background(), m, VerifyOptions{ArtifactsDir: dir, At: beforeExpiry}); !v.OK || len(v.Artifacts) != 2 {
		t.Errorf("verdict %+v", v)
	}
	// Files alone need not cover every component.
	main := filepath.Join(dir, "main@1.2.3.bin")
	if v := Verify(context.Background(), m, VerifyOptions{Artifacts: []string{main}, At: beforeExpiry}); !v.OK {
		t.Errorf("verdict %+v", v)
	}
	writeFile(t, dir, "modem.bin", []byte("tampered modem image!!\n"))
	v = Verify(context.Background(), m, VerifyOptions{ArtifactsDir: dir, At: beforeExpiry})
	if v.OK || !strings.Contains(strings.Join(v.Problems, "\n"), "modem.bin has sha256") || !errors.Is(v.Err(), ErrVerification) {
		t.Errorf("verdict %+v", v)
	}
	v = Verify(context.Background(), m, VerifyOptions{Artifacts: []string{"boot=" + main}, At: beforeExpiry})
	if v.OK || !strings.Contains(strings.Join(v.Problems, "\n"), "artifacts: artifact \"boot=") {
		t.Errorf("verdict %+v", v)
	}
	// A file that cannot be read is an error of input, not a failed
	// verification: the verdict is incomplete.
	for _, f := range []string{filepath.Join(dir, "missing.bin"), dir} {
		v = Verify(context.Background(), m, VerifyOptions{Artifacts: []string{f}, At: beforeExpiry})
		if err := v.Err(); v.OK || err == nil || errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), f) {
			t.Errorf("%s: verdict %+v, error %v; want an error naming the file, not a verification failure", f, v, err)
		}
	}
}
