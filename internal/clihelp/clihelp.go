// Package clihelp prints urfave/cli's help as kubectl and gh print
// theirs: each flag's names and value on a line of their own, its
// description below, and every line broken to the screen's width. It also
// keeps a flag's old spelling working, hidden, with a warning
// (Deprecated).
package clihelp

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/charmbracelet/x/ansi"
	"github.com/urfave/cli/v2"
)

// Wire makes urfave/cli print help fitted to width columns, with flags
// as FlagHelp shows them. Both are package variables of urfave/cli: they
// are set once, and the width is kept atomically, so that apps built and
// run concurrently in one process (tests) do not race; the last width
// given wins.
func Wire(width int) {
	helpWidth.Store(int64(width))
	wireOnce.Do(func() {
		cli.FlagStringer = FlagHelp
		// Flags in or out of categories print alike: urfave/cli's own
		// template for flags without categories wraps them itself.
		own := "{{range $i, $e := .VisibleFlags}}\n   {{$e}}{{end}}"
		for _, t := range []*string{&cli.AppHelpTemplate, &cli.CommandHelpTemplate, &cli.SubcommandHelpTemplate} {
			*t = strings.ReplaceAll(*t, `{{template "visibleFlagTemplate" .}}`, own)
		}
		cli.HelpPrinter = func(w io.Writer, templ string, data any) {
			var b bytes.Buffer
			cli.HelpPrinterCustom(&b, templ, data, nil)
			io.WriteString(w, FitHelp(b.String(), int(helpWidth.Load())))
		}
	})
}

var (
	wireOnce  sync.Once
	helpWidth atomic.Int64
)

// FlagHelp shows a flag as two lines: its names and value
// ("-c, --component PACKAGE@VERSION=FILE"), then what it does, with its
// default once when it has one worth saying and its description does not
// already say it.
func FlagHelp(f cli.Flag) string {
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return fmt.Sprint(f)
	}
	placeholder, usage := placeholderOf(df.GetUsage())
	if df.TakesValue() && placeholder == "" {
		placeholder = valueKind(f)
	}
	var long, short []string
	for _, n := range df.Names() {
		if len(n) == 1 {
			short = append(short, "-"+n)
		} else {
			long = append(long, "--"+n)
		}
	}
	names := strings.Join(append(short, long...), ", ")
	if len(short) == 0 {
		names = "    " + names
	}
	if placeholder != "" {
		names += " " + placeholder
	}
	if d := defaultText(f, df); d != "" && !strings.Contains(usage, "default") {
		usage += " (default: " + d + ")"
	}
	if env := df.GetEnvVars(); len(env) > 0 && !strings.Contains(usage, env[0]) {
		usage += " (env " + strings.Join(env, ", ") + ")"
	}
	return names + "\n         " + usage
}

// placeholderOf takes the `PLACEHOLDER` out of a usage text, as urfave/cli
// does, and returns it and the text without its backquotes.
func placeholderOf(usage string) (string, string) {
	i := strings.IndexByte(usage, '`')
	if i < 0 {
		return "", usage
	}
	j := strings.IndexByte(usage[i+1:], '`')
	if j < 0 {
		return "", usage
	}
	name := usage[i+1 : i+1+j]
	return name, usage[:i] + name + usage[i+2+j:]
}

// valueKind names the value of a flag without a placeholder of its own.
func valueKind(f cli.Flag) string {
	switch f.(type) {
	case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
		return "N"
	case *cli.DurationFlag:
		return "DURATION"
	case *cli.Float64Flag:
		return "NUMBER"
	}
	return "VALUE"
}

// defaultText is a flag's default as help says it, or "" when it has none
// worth saying: false, 0, an empty text or list.
func defaultText(f cli.Flag, df cli.DocGenerationFlag) string {
	if bf, ok := f.(*cli.BoolFlag); ok && bf.DisableDefaultText {
		return ""
	}
	switch d := df.GetDefaultText(); d {
	case "", "0", "false", `""`, "0s", "[]":
		return ""
	default:
		return d
	}
}

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

// Deprecated is a hidden copy of f under the name old, whose use
// warns that --f's name replaces it. It has f's default, since urfave/cli
// writes each flag's default to its destination.
func Deprecated(old string, f cli.Flag) cli.Flag {
	now := f.Names()[0]
	warn := func(c *cli.Context) {
		fmt.Fprintf(c.App.ErrWriter, "warning: %s is deprecated: use --%s\n", dashed(old), now)
	}
	switch f := f.(type) {
	case *cli.DurationFlag:
		return &cli.DurationFlag{Name: old, Hidden: true, Value: f.Value, Destination: f.Destination, Action: warnFirst(warn, f.Action)}
	case *cli.StringFlag:
		return &cli.StringFlag{Name: old, Hidden: true, Value: f.Value, Destination: f.Destination, Action: warnFirst(warn, f.Action)}
	case *cli.StringSliceFlag:
		return &cli.StringSliceFlag{Name: old, Hidden: true, Destination: f.Destination, Action: warnFirst(warn, f.Action)}
	}
	panic(fmt.Sprintf("clihelp: a deprecated alias of a %T flag: add it to clihelp.Deprecated", f))
}

// warnFirst is a flag action that warns, then does what action does.
func warnFirst[T any](warn func(*cli.Context), action func(*cli.Context, T) error) func(*cli.Context, T) error {
	return func(c *cli.Context, v T) error {
		warn(c)
		if action != nil {
			return action(c, v)
		}
		return nil
	}
}

// dashed is a flag's name as typed: -n or --name.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}
