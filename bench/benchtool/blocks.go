package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// upload-blocks: `otactl upload` of a 1 MiB artifact in blocks of 128 KiB
// (as for a broker that takes at most 128 KiB, AWS IoT Core's limit:
// eight blocks, each read before and back after it is sent, then the
// index) against `otactl upload` of the same file as one message. Each run
// uses a version of its own, deleted afterwards with `otactl artifact
// delete`, so neither side finds the bytes already there; after the
// warm-up both sides' artifacts are downloaded and compared with the file.
func (s *suite) uploadBlocks(ctx context.Context) (result, error) {
	if err := s.need(ctx, "upload", "artifact"); err != nil {
		return result{}, err
	}
	size := int64(mb)
	f, err := s.dataFile(ctx, "blocks.bin", size)
	if err != nil {
		return result{}, err
	}
	names := map[string]string{"otactl": "blocks@", "reference": "whole@"}
	artifact := func(side string, i int) string { return names[side] + runLabel(i) }
	readback := filepath.Join(s.dir, "out", "blocks.readback")
	return s.compare(ctx, comparison{
		size:    humanSize(size) + " in 128 KiB blocks",
		target:  3,
		runs:    s.runsOr(7, 3),
		warmups: 1,
		wrap:    true,
		timeout: time.Minute,
		otactl: func(i int) []step {
			return []step{{argv: []string{s.otactl, "upload", artifact("otactl", i), f, "--block-size", "128k", "--max-payload", "128k"}}}
		},
		reference: func(i int) []step {
			return []step{{argv: []string{s.otactl, "upload", artifact("reference", i), f}}}
		},
		after: func(ctx context.Context, side string, i int) error {
			a := artifact(side, i)
			if i < 0 {
				if _, err := s.r.run(ctx, []step{{argv: []string{s.otactl, "artifact", "download", a, "-O", readback, "--clobber"}}}, false, time.Minute); err != nil {
					return err
				}
				if err := sameFile(readback, f); err != nil {
					return fmt.Errorf("%s: %w", a, err)
				}
			}
			_, err := s.r.run(ctx, []step{{argv: []string{s.otactl, "artifact", "delete", a, "--yes"}}}, false, time.Minute)
			return err
		},
	})
}
