package release

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHashFile(t *testing.T) {
	dir := t.TempDir()
	// Sizes around the 1 MiB buffer, so that several reads are joined.
	for _, n := range []int{0, 3, hashBufferSize - 1, hashBufferSize, hashBufferSize + 1, 3*hashBufferSize + 17} {
		data := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		p := writeFile(t, dir, "f", data)
		h, size, err := HashFile(context.Background(), p)
		if err != nil || size != int64(n) || h != hexSHA256(data) {
			t.Errorf("%d bytes: %s %d %v; want %s", n, h, size, err, hexSHA256(data))
		}
	}
	// A value checked with sha256sum.
	p := writeFile(t, dir, "abc", []byte("abc"))
	if h, _, _ := HashFile(context.Background(), p); h != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("sha256(abc) = %s", h)
	}
}

func TestHashFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := HashFile(context.Background(), filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err := HashFile(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("folder: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := writeFile(t, dir, "f", []byte("x"))
	if _, _, err := HashFile(ctx, p); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestHashFiles(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := range 9 {
		paths = append(paths, writeFile(t, dir, string(rune('a'+i)), bytes.Repeat([]byte{byte(i)}, i*1000)))
	}
	got, err := HashFiles(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		data := bytes.Repeat([]byte{byte(i)}, i*1000)
		if g.Path != paths[i] || g.Size != int64(len(data)) || g.Hash != hexSHA256(data) {
			t.Errorf("result %d = %+v", i, g)
		}
	}
	bad := append(paths[:4:4], filepath.Join(dir, "missing"))
	bad = append(bad, paths[4:]...)
	if _, err := HashFiles(context.Background(), bad); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file among others: %v", err)
	}
	if got, err := HashFiles(context.Background(), nil); err != nil || len(got) != 0 {
		t.Errorf("no files: %v %v", got, err)
	}
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
		err  string
	}{
		{"main@1.2.3=build/zephyr.signed.bin", Spec{Package: "main", Version: "1.2.3", Path: "build/zephyr.signed.bin"}, ""},
		{"modem@2.0.7=fw.bin,type=modem", Spec{Package: "modem", Version: "2.0.7", Path: "fw.bin", Type: "modem"}, ""},
		{"main=zephyr.signed.bin", Spec{Package: "main", Path: "zephyr.signed.bin"}, ""},
		{"main@1=dir=x/a,b.bin", Spec{Package: "main", Version: "1", Path: "dir=x/a,b.bin"}, ""},
		{"main@1=a,type=x,type=", Spec{Package: "main", Version: "1", Path: "a,type=x"}, ""},
		{"main@1=a,type=x,type=mcuboot", Spec{Package: "main", Version: "1", Path: "a,type=x", Type: "mcuboot"}, ""},
		{"main@1=/abs/path with space.bin", Spec{Package: "main", Version: "1", Path: "/abs/path with space.bin"}, ""},
		{"main@1.2.3", Spec{}, "want PACKAGE@VERSION=FILE"},
		{"main@1=", Spec{}, "no file"},
		{"main@1=,type=mcuboot", Spec{}, "no file"},
		{"=file", Spec{}, "package name is empty"},
		{"main@=file", Spec{}, "version name is empty"},
		{"ma/in@1=file", Spec{}, "invalid package"},
		{"main@1 2=file", Spec{}, "invalid version"},
		{"main@1.2+3=file", Spec{}, `invalid version "1.2+3": '+' is not allowed`},
		{"main@1=file,type=a b", Spec{}, "invalid type"},
		{"main@1=file,type=-", Spec{}, "invalid type"},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSpec(%q) = %+v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		// String gives back a spec that parses to the same.
		if again, err := ParseSpec(got.String()); err != nil || again != got {
			t.Errorf("ParseSpec(%q.String() = %q) = %+v, %v", tt.in, got.String(), again, err)
		}
	}
}

// BenchmarkHashFile hashes a 64 MiB file; compare its MB/s with
// `openssl dgst -sha256` (about 1.1 GB/s on the project's machines).
func BenchmarkHashFile(b *testing.B) {
	const size = 64 << 20
	p := filepath.Join(b.TempDir(), "image.bin")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	block := bytes.Repeat([]byte{0x5a, 0xa5, 0x3c, 0xc3}, 1<<18)
	for written := 0; written < size; written += len(block) {
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		if _, n, err := HashFile(context.Background(), p); err != nil || n != size {
			b.Fatal(n, err)
		}
	}
}
