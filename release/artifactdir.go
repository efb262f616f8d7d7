package release

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// dirFile is a regular file found under an artifacts folder.
type dirFile struct {
	rel  string // the path below the folder, with '/'
	size int64
}

// LookedFor says what an artifacts folder was searched for to find c's
// file (findInDir).
func LookedFor(c Component) string {
	return fmt.Sprintf("looked for %s@%s[.EXT] and %s[.EXT] by name, and for a file of %d bytes with its sha256",
		c.Package, c.Version, c.Package, c.Size)
}

// findInDir looks for each component not in skip in dir and its
// subfolders (hidden ones, such as .git, left out). By name first:
// PACKAGE@VERSION[.ext] before PACKAGE[.ext], several equally good names
// being an error. A component no file names is found by content: the first
// file, in path order, that names no component and has its size and
// SHA-256, so a build tree's build/zephyr/zephyr.signed.bin is found for
// main@1.2.3.
func findInDir(ctx context.Context, m *Manifest, dir string, skip map[string]bool) ([]ArtifactMatch, error) {
	files, err := dirFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("artifacts folder: %w", err)
	}
	var out []ArtifactMatch
	for i := range m.Components {
		c := &m.Components[i]
		if skip[c.Package] {
			continue
		}
		var cands []string
		bestRank := 0
		for _, f := range files {
			base := filepath.Base(f.rel)
			// The file must name this component better than any other.
			if componentByName(m, base) != c {
				continue
			}
			r := nameRank(base, c)
			if r > bestRank {
				cands, bestRank = nil, r
			}
			if r == bestRank {
				cands = append(cands, f.rel)
			}
		}
		switch len(cands) {
		case 0:
			path, err := findByContent(ctx, m, dir, files, c)
			if err != nil {
				return nil, err
			}
			if path != "" {
				out = append(out, ArtifactMatch{Path: path, Package: c.Package, By: ByDir})
			}
		case 1:
			out = append(out, ArtifactMatch{Path: filepath.Join(dir, cands[0]), Package: c.Package, By: ByDir})
		default:
			sort.Strings(cands)
			return nil, fmt.Errorf("artifacts folder %s has several files for %s@%s: %s", dir, c.Package, c.Version, strings.Join(cands, ", "))
		}
	}
	return out, nil
}

// findByContent is the first of files with c's size and hash that no
// component of m names, or "".
func findByContent(ctx context.Context, m *Manifest, dir string, files []dirFile, c *Component) (string, error) {
	var paths []string
	for _, f := range files {
		if f.size == c.Size && componentByName(m, filepath.Base(f.rel)) == nil {
			paths = append(paths, filepath.Join(dir, f.rel))
		}
	}
	if len(paths) == 0 {
		return "", nil
	}
	hashes, err := HashFiles(ctx, paths)
	if err != nil {
		return "", err
	}
	for _, h := range hashes {
		if h.Hash == c.Hash {
			return h.Path, nil
		}
	}
	return "", nil
}

// dirFiles lists the regular files (or symbolic links to one) under dir, in
// path order, leaving out hidden folders.
func dirFiles(dir string) ([]dirFile, error) {
	var out []dirFile
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if path != dir && strings.HasPrefix(e.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		out = append(out, dirFile{rel: filepath.ToSlash(rel), size: st.Size()})
		return nil
	})
	return out, err
}
