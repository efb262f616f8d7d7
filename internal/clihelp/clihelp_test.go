package clihelp

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

func TestFitHelp(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"   short line", "   short line"},
		{"   a description that is much too long for twenty six",
			"   a description that is\n   much too long for\n   twenty six"},
		{"   publish   upload artifacts and publish it",
			"   publish   upload\n             artifacts and\n             publish it"},
		{"      $ otactl release create -c main@1=a.bin --out r.json",
			"      $ otactl release \\\n          create -c \\\n          main@1=a.bin \\\n          --out r.json"},
		{"   otactl release create -c PACKAGE [--out FILE]",
			"   otactl release create\n     -c PACKAGE [--out\n     FILE]"},
		{"   abcdefghijklmnopqrstuvwxyz0123456789",
			"   abcdefghijklmnopqrstuvw\n   xyz0123456789"},
	} {
		got := FitHelp(tc.in, 26)
		if got != tc.want {
			t.Errorf("FitHelp(%q, 26) =\n%s\nwant\n%s", tc.in, got, tc.want)
		}
		for _, l := range strings.Split(got, "\n") {
			if ansi.StringWidth(l) > 26 {
				t.Errorf("line %q is over 26 columns", l)
			}
		}
		// The words stay, in order.
		if strings.Join(strings.Fields(strings.ReplaceAll(got, "\\", "")), "") != strings.Join(strings.Fields(tc.in), "") {
			t.Errorf("FitHelp(%q) lost or moved text: %q", tc.in, got)
		}
	}
}
