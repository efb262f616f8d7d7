package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
)

func genMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	size := fs.Int64("size", 0, "bytes per file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *size <= 0 || fs.NArg() == 0 {
		return errors.New("gen: want -size BYTES and at least one FILE")
	}
	for _, p := range fs.Args() {
		if err := genFile(ctx, p, *size); err != nil {
			return err
		}
	}
	return nil
}

// genFile writes size pseudo-random bytes to path (not sparse, not
// compressible, different for every path) and syncs them to disk, so that
// the benchmarks read real data and no write-back runs during them.
func genFile(ctx context.Context, path string, size int64) error {
	h := fnv.New64a()
	h.Write([]byte(path))
	var seed [32]byte
	copy(seed[:], fmt.Sprintf("%016x-otactl-bench", h.Sum64()))
	rng := rand.NewChaCha8(seed)

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 4<<20)
	buf := make([]byte, 4<<20)
	for left := size; left > 0; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(int64(len(buf)), left)
		_, _ = rng.Read(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		left -= n
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}
