package upload_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/otactl/otactl/upload"
)

func TestHashBlocksAndIndexRoundTrip(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 200) // 3200 bytes
	x, err := upload.HashBlocks(context.Background(), bytes.NewReader(data), int64(len(data)), 1024)
	if err != nil {
		t.Fatal(err)
	}
	whole := sha256.Sum256(data)
	if x.Count != 4 || x.Size != 3200 || x.SHA256 != hex.EncodeToString(whole[:]) {
		t.Fatalf("index %+v", x)
	}
	for i := range x.Count {
		off, n := x.Block(i)
		if want := sha256.Sum256(data[off : off+n]); x.BlockSum(i) != want {
			t.Errorf("block %d's hash", i)
		}
		if err := upload.CheckBlock(x, i, data[off:off+n], true); err != nil {
			t.Errorf("block %d: %v", i, err)
		}
	}
	if _, n := x.Block(3); n != 128 {
		t.Errorf("last block is %d bytes, want 128", n)
	}
	got, err := upload.DecodeBlockIndex(x.Encode())
	if err != nil || !bytes.Equal(got.Encode(), x.Encode()) {
		t.Fatalf("round trip: %v\n%s\n%s", err, got.Encode(), x.Encode())
	}
	bad := bytes.Clone(data[:1024])
	bad[7] ^= 1
	if err := upload.CheckBlock(x, 0, bad, true); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("corrupted block: %v", err)
	}
	if err := upload.CheckBlock(x, 1, nil, false); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing block: %v", err)
	}
	if upload.BlockIndexTopic(".u/c/main@1") != ".u/c/main@1/blocks" || upload.BlockTopic(".u/c/main@1", 12) != ".u/c/main@1/b/12" {
		t.Error("topics")
	}
	if _, err := upload.HashBlocks(context.Background(), bytes.NewReader(data), int64(len(data)), 100); err == nil {
		t.Error("blocks under 1k were accepted")
	}
}

func TestDecodeBlockIndexRefusesWhatIsNotOneArtifact(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for name, in := range map[string]string{
		"not json":      `{`,
		"version":       `{"v":2,"size":10,"blockSize":10,"count":1,"sha256":"` + h + `","blocks":["` + h + `"]}`,
		"no size":       `{"v":1,"size":0,"blockSize":10,"count":0,"sha256":"` + h + `","blocks":[]}`,
		"count":         `{"v":1,"size":20,"blockSize":10,"count":1,"sha256":"` + h + `","blocks":["` + h + `"]}`,
		"hashes":        `{"v":1,"size":20,"blockSize":10,"count":2,"sha256":"` + h + `","blocks":["` + h + `"]}`,
		"upper hex":     `{"v":1,"size":10,"blockSize":10,"count":1,"sha256":"` + strings.ToUpper(h) + `","blocks":["` + h + `"]}`,
		"short hash":    `{"v":1,"size":10,"blockSize":10,"count":1,"sha256":"` + h + `","blocks":["abcd"]}`,
		"zero blocks":   `{"v":1,"size":10,"blockSize":0,"count":0,"sha256":"` + h + `","blocks":[]}`,
		"trailing data": `{"v":1,"size":10,"blockSize":10,"count":1,"sha256":"` + h + `","blocks":["` + h + `"]} {}`,
	} {
		if _, err := upload.DecodeBlockIndex([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := `{"v":1,"size":10,"blockSize":16,"count":1,"sha256":"` + h + `","blocks":["` + h + `"],"later":true}`
	if _, err := upload.DecodeBlockIndex([]byte(ok)); err != nil {
		t.Errorf("a valid index with an unknown field: %v", err)
	}
}

func FuzzDecodeBlockIndex(f *testing.F) {
	h := strings.Repeat("0f", 32)
	f.Add([]byte(`{"v":1,"size":3000,"blockSize":1024,"count":3,"sha256":"` + h + `","blocks":["` + h + `","` + h + `","` + h + `"]}`))
	f.Add([]byte(`{"v":1,"size":9223372036854775807,"blockSize":1,"count":-1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := upload.DecodeBlockIndex(b)
		if err != nil {
			return
		}
		// What decodes describes one artifact exactly, and survives a
		// round trip.
		var total int64
		for i := range x.Count {
			off, n := x.Block(i)
			if off != total || n <= 0 || n > x.BlockSize {
				t.Fatalf("block %d at %d, %d bytes, of %+v", i, off, n, x)
			}
			total += n
			_ = x.BlockSum(i)
		}
		if total != x.Size {
			t.Fatalf("blocks add up to %d, not %d", total, x.Size)
		}
		y, err := upload.DecodeBlockIndex(x.Encode())
		if err != nil || !bytes.Equal(y.Encode(), x.Encode()) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
