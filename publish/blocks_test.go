package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/upload"
)

// The same bytes published again with another block size, on a real
// broker, while a device is half-way through downloading the blocks: the
// device finishes from the blocks its index names, every one matching, and
// the broker keeps the index it had.
func TestBlocksOfTheSameBytesAreNotCutAgain(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := upload.Connect(ctx, upload.Options{Broker: b.URL, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		f := newFixture(t, 1000, 20<<10)
		file, err := os.Open(f.path)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		put := func(blockSize, maxPayload int64, force bool, obs Observer) (upload.PutResult, *upload.BlockIndex, error) {
			a := ArtifactPut{Topic: mainTopic, Name: "main@1.0.0", Path: f.path, File: file, Size: int64(len(f.data)), Force: force}
			return PutBlocks(ctx, FromClient(c), BlockPut{ArtifactPut: a, BlockSize: blockSize, MaxPayload: maxPayload}, obs)
		}
		if _, x, err := put(4<<10, 0, false, nil); err != nil || x.Count != 5 {
			t.Fatalf("first publish: %+v %v", x, err)
		}

		// A device reads the index and the first two blocks.
		device, err := c.ReadBlockIndex(ctx, mainTopic)
		if err != nil || device == nil {
			t.Fatalf("index: %+v %v", device, err)
		}
		whole := sha256.New()
		fetch := func(i int) {
			t.Helper()
			p, found, err := c.ReadRetained(ctx, upload.BlockTopic(mainTopic, i))
			if err != nil {
				t.Fatal(err)
			}
			if err := upload.CheckBlock(device, i, p, found); err != nil {
				t.Fatalf("the device's block %d: %v", i, err)
			}
			whole.Write(p)
		}
		fetch(0)
		fetch(1)

		// The same bytes again, in blocks of 8 KiB (a --block-size, or
		// another max-payload): kept as they are, with a warning.
		var warnings []string
		res, x, err := put(8<<10, 64<<10, false, func(e Event) {
			if w, ok := e.(Warning); ok {
				warnings = append(warnings, w.Message)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != upload.ActionPresent || x.BlockSize != 4<<10 || x.Count != 5 {
			t.Errorf("again in blocks of 8 KiB: %s, index of %d blocks of %d bytes", res.Action, x.Count, x.BlockSize)
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], "keeping the blocks of 4.0 KiB") {
			t.Errorf("warnings %q", warnings)
		}
		for i := 2; i < device.Count; i++ {
			fetch(i)
		}
		if hex.EncodeToString(whole.Sum(nil)) != f.m.Components[0].Hash {
			t.Fatal("the device's blocks do not make the artifact")
		}
		if now, err := c.ReadBlockIndex(ctx, mainTopic); err != nil || now == nil || !sameIndex(now, device) {
			t.Fatalf("the index changed: %+v %v", now, err)
		}

		// Blocks over the broker's limit: refused, unless --force cuts
		// them again.
		_, _, err = put(2<<10, 3<<10, false, nil)
		if err == nil || !strings.Contains(err.Error(), "more than the broker's limit") || !strings.Contains(hint.Of(err), "--force") {
			t.Fatalf("blocks over max-payload: %v", err)
		}
		if res, x, err = put(2<<10, 3<<10, true, nil); err != nil || res.Action != upload.ActionReplaced || x.Count != 10 {
			t.Fatalf("--force: %+v %+v %v", res, x, err)
		}
		if now, err := c.ReadBlockIndex(ctx, mainTopic); err != nil || now == nil || now.BlockSize != 2<<10 {
			t.Fatalf("after --force: %+v %v", now, err)
		}
	})
}
