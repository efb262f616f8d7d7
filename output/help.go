package output

import (
	"regexp"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// FitHelp fits help text to width columns on screen: every line longer
// than width is broken at spaces, its continuation lines indented under
// the text they continue. A line of a list with a gap of two or more
// spaces before its second column ("   publish   upload ...") continues
// under that column; a shell example ("$ otactl ...") continues after a
// trailing " \" so that it can still be copied; any other line continues
// at its own indentation, or two columns further for a usage line
// ("otactl release ..."). A word longer than the room left is cut.
func FitHelp(text string, width int) string {
	if width < 20 {
		width = 20
	}
	var b strings.Builder
	for i, line := range strings.Split(text, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(fitLine(line, width))
	}
	return b.String()
}

// columnGap finds the gap before a list's second column.
var columnGap = regexp.MustCompile(`^\S+(?:, \S+)*( {2,})\S`)

func fitLine(line string, width int) string {
	if ansi.StringWidth(line) <= width {
		return line
	}
	body := strings.TrimLeft(line, " ")
	lead := len(line) - len(body)
	hang, cont, keep := lead, "", lead
	switch {
	case strings.HasPrefix(body, "$ "):
		hang, cont = lead+4, " \\"
	case strings.HasPrefix(body, "otactl "):
		hang = lead + 2
	default:
		if m := columnGap.FindStringSubmatchIndex(body); m != nil && lead+m[3] <= width/2 {
			// The first column and its gap stay as they are.
			hang, keep = lead+m[3], lead+m[3]
		}
	}
	var out []string
	cur := line[:keep]
	curWidth, room := ansi.StringWidth(cur), width-len(cont)
	for _, word := range strings.Fields(line[keep:]) {
		w := ansi.StringWidth(word)
		if curWidth > hang && curWidth+1+w > room && strings.TrimSpace(cur) != "" {
			out = append(out, cur+cont)
			cur, curWidth = strings.Repeat(" ", hang), hang
		}
		for curWidth+w > room && room-curWidth > 0 {
			// A word too long for a line of its own: cut it.
			cut := ansi.Truncate(word, room-curWidth, "")
			out = append(out, cur+cut+cont)
			word = strings.TrimPrefix(word, cut)
			w = ansi.StringWidth(word)
			cur, curWidth = strings.Repeat(" ", hang), hang
		}
		if cur != "" && cur[len(cur)-1] != ' ' {
			cur += " "
			curWidth++
		}
		cur += word
		curWidth += w
	}
	return strings.Join(append(out, cur), "\n")
}
