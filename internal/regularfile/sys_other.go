//go:build !unix

package regularfile

import (
	"io/fs"
	"os"
)

func openNonblock(path string) (*os.File, error) { return os.Open(path) }

func keepOwner(*os.File, fs.FileInfo) {}

func checkLinkOwner(string, fs.FileInfo) error { return nil }

func syncDir(string) {}
