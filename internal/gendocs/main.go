// Command gendocs writes otactl's man page and markdown CLI reference from
// the command tree: man/otactl.1 and docs/cli/otactl.md, below the folder
// given (default: the current one, the repository's root).
//
//	go run ./internal/gendocs [ROOT]
//
// commands.TestReferenceIsCurrent fails when the files checked in differ
// from what this writes.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/otactl/otactl/commands"
	"github.com/otactl/otactl/internal/regularfile"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	if err := run(root); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs: "+err.Error())
		os.Exit(1)
	}
}

func run(root string) error {
	man, md, err := commands.Reference()
	if err != nil {
		return err
	}
	for path, text := range map[string]string{
		filepath.Join(root, "man", "otactl.1"):          man,
		filepath.Join(root, "docs", "cli", "otactl.md"): md,
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := regularfile.Write(path, []byte(text), regularfile.Options{}); err != nil {
			return err
		}
		fmt.Println("wrote " + path)
	}
	return nil
}
