package output

import (
	"regexp"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

func TestTableFitsTheWidth(t *testing.T) {
	hash := strings.Repeat("0123456789abcdef", 4)
	tbl := Table{
		Header:   []string{"PACKAGE", "VERSION", "SHA-256", "URI"},
		Rows:     [][]string{{"main", "1.2.3", hash, "/.u/c/main@1.2.3"}, {"modem-firmware", "4.0.1", hash, "/.u/c/modem-firmware@4.0.1"}},
		Optional: []string{"URI"},
	}
	render := func(tb Table, tty bool) string {
		var b strings.Builder
		if err := tb.Write(&b, tty); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for _, tc := range []struct {
		width         int
		hashWhole     bool
		uri, ellipsis bool
	}{
		{200, true, true, false}, // fits: nothing changes
		{80, false, true, true},  // the hash is cut to 12 digits
		{50, false, false, true}, // and the URI column left out
		{30, false, false, true}, // then the widest columns are cut
	} {
		tb := tbl
		tb.Width = tc.width
		out := render(tb, true)
		for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			if ansi.StringWidth(line) > tc.width {
				t.Errorf("width %d: line of %d: %q", tc.width, ansi.StringWidth(line), line)
			}
		}
		if strings.Contains(out, hash) != tc.hashWhole || strings.Contains(out, "URI") != tc.uri || strings.Contains(out, "…") != tc.ellipsis {
			t.Errorf("width %d: hash whole %v (want %v), URI %v (want %v), ellipsis %v (want %v):\n%s", tc.width,
				strings.Contains(out, hash), tc.hashWhole, strings.Contains(out, "URI"), tc.uri, strings.Contains(out, "…"), tc.ellipsis, out)
		}
		if tc.width == 80 && !regexp.MustCompile(hash[:12]+"[0-9a-f]*…").MatchString(out) {
			t.Errorf("width 80: the hash is not cut, keeping 12 digits or more, with an ellipsis:\n%s", out)
		}
		// Piped output stays whole and tab-separated, whatever the width.
		if piped := render(tb, false); !strings.Contains(piped, "\t"+hash+"\t/.u/c/modem-firmware@4.0.1\n") {
			t.Errorf("width %d: piped output changed:\n%s", tc.width, piped)
		}
	}
}
