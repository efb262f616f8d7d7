package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/otactl/otactl/internal/regularfile"
)

// hashBufferSize is the read size for hashing: large enough that the
// system-call cost vanishes next to SHA-256 (which uses SHA-NI on amd64).
const hashBufferSize = 1 << 20

var hashBuffers = sync.Pool{New: func() any { b := make([]byte, hashBufferSize); return &b }}

// HashFile streams the file at path through SHA-256 and returns the
// lowercase hex hash and the number of bytes read. It reads in 1 MiB blocks,
// never the whole file at once, and stops when ctx is done. Anything but a
// regular file is refused without blocking on it.
func HashFile(ctx context.Context, path string) (hash string, size int64, err error) {
	f, err := regularfile.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	bp := hashBuffers.Get().(*[]byte)
	defer hashBuffers.Put(bp)
	buf := *bp
	h := sha256.New()
	for {
		if err := ctx.Err(); err != nil {
			return "", 0, err
		}
		n, rerr := f.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			size += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", 0, fmt.Errorf("read %s: %w", path, rerr)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

// FileHash is the result of hashing one file.
type FileHash struct {
	Path string
	Hash string
	Size int64
}

// HashFiles hashes files in parallel, one worker per CPU at most, and
// returns the results in the order of paths. The first error stops the
// others.
func HashFiles(ctx context.Context, paths []string) ([]FileHash, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]FileHash, len(paths))
	errs := make([]error, len(paths))
	workers := min(runtime.GOMAXPROCS(0), len(paths))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				h, n, err := HashFile(ctx, paths[i])
				if err != nil {
					errs[i] = err
					cancel()
					continue
				}
				out[i] = FileHash{Path: paths[i], Hash: h, Size: n}
			}
		}()
	}
feed:
	for i := range paths {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	// Report the first real error, not the cancellations it caused.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Spec names a file to put in a release: "pkg@version=PATH",
// "pkg@version=PATH,type=modem", or "pkg=PATH" with the version taken from
// the file's MCUboot header.
type Spec struct {
	Package, Version, Path, Type string
}

// String gives the spec back in the form ParseSpec reads.
func (s Spec) String() string {
	t := s.Package
	if s.Version != "" {
		t += "@" + s.Version
	}
	t += "=" + s.Path
	if s.Type != "" || strings.Contains(s.Path, ",type=") {
		t += ",type=" + s.Type
	}
	return t
}

// ParseSpec reads a component spec. The name part ends at the first '=':
// names cannot hold '=', so the path may. The path runs to the end, except
// that one trailing ",type=NAME" sets the type: a path with commas needs no
// quoting, and a path that itself ends in ",type=x" is written with an empty
// ",type=" after it ("main@1=a,type=x,type=").
func ParseSpec(s string) (Spec, error) {
	name, path, ok := strings.Cut(s, "=")
	if !ok {
		return Spec{}, fmt.Errorf("component %q: want PACKAGE@VERSION=FILE or PACKAGE=FILE", truncate(s))
	}
	var sp Spec
	if i := strings.LastIndex(path, ",type="); i >= 0 {
		sp.Type = path[i+len(",type="):]
		path = path[:i]
		if sp.Type != "" {
			if err := ValidateType(sp.Type); err != nil {
				return Spec{}, fmt.Errorf("component %q: %w", truncate(s), err)
			}
		}
	}
	sp.Path = path
	sp.Package, sp.Version, _ = strings.Cut(name, "@")
	if err := ValidatePackage(sp.Package); err != nil {
		return Spec{}, fmt.Errorf("component %q: %w", truncate(s), err)
	}
	if strings.Contains(name, "@") {
		if err := ValidateVersion(sp.Version); err != nil {
			return Spec{}, fmt.Errorf("component %q: %w", truncate(s), err)
		}
	}
	if sp.Path == "" {
		return Spec{}, fmt.Errorf("component %q: no file after '='", truncate(s))
	}
	return sp, nil
}
