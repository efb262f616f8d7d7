package commands

import (
	"os"
	"strconv"

	"golang.org/x/term"

	"github.com/otactl/otactl/internal/clihelp"
)

// Help and tables fit the screen: the terminal's width, else $COLUMNS,
// else 80, also when help is piped (package clihelp); tables only on a
// terminal (output.Table).

// screenWidth is the width help and tables are fitted to.
func screenWidth(sys *System) int {
	if sys.StdoutTTY {
		if f, ok := sys.Stdout.(*os.File); ok {
			if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
				return w
			}
		}
	}
	if w, err := strconv.Atoi(sys.Getenv("COLUMNS")); err == nil && w > 0 {
		return w
	}
	return 80
}

// tableWidth is the width a table is fitted to: the screen's on a
// terminal, none (0) when piped, where tables stay whole.
func tableWidth(sys *System) int {
	if !sys.StdoutTTY {
		return 0
	}
	return screenWidth(sys)
}

// wireHelp fits help to sys's screen (see package clihelp).
func wireHelp(sys *System) { clihelp.Wire(screenWidth(sys)) }
