package commands

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/otactl/otactl/output"
)

// Help is printed to fit the screen, as kubectl and gh print theirs: each
// flag's names and value on a line of their own, its description below,
// and every line broken to the width (output.FitHelp): the terminal's,
// else $COLUMNS, else 80, also when help is piped.

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

// wireHelp makes urfave/cli print help fitted to sys's width, with flags
// as flagHelp shows them. (Both are package variables of urfave/cli.)
func wireHelp(sys *System) {
	width := screenWidth(sys)
	cli.FlagStringer = flagHelp
	// Flags in or out of categories print alike: urfave/cli's own template
	// for flags without categories wraps them itself.
	own := "{{range $i, $e := .VisibleFlags}}\n   {{$e}}{{end}}"
	for _, t := range []*string{&cli.AppHelpTemplate, &cli.CommandHelpTemplate, &cli.SubcommandHelpTemplate} {
		*t = strings.ReplaceAll(*t, `{{template "visibleFlagTemplate" .}}`, own)
	}
	cli.HelpPrinter = func(w io.Writer, templ string, data any) {
		var b bytes.Buffer
		cli.HelpPrinterCustom(&b, templ, data, nil)
		io.WriteString(w, output.FitHelp(b.String(), width))
	}
}

// flagHelp shows a flag as two lines: its names and value
// ("-c, --component PACKAGE@VERSION=FILE"), then what it does, with its
// default once when it has one worth saying and its description does not
// already say it.
func flagHelp(f cli.Flag) string {
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
