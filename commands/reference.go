package commands

import (
	"io"
	"strings"
	"time"
)

// Reference renders the whole command tree, as the help of each command
// shows it, as a man page (roff, for man/otactl.1) and as markdown (for
// docs/cli/otactl.md). It depends on nothing but the code: no
// environment, no terminal, no clock, so that the files checked in can be
// compared with it (see internal/gendocs).
func Reference() (man, markdown string, err error) {
	sys := &System{
		Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard,
		Now:    func() time.Time { return time.Unix(0, 0).UTC() },
		Getenv: func(string) string { return "" },
	}
	app := newApp(sys)
	app.Version = ""
	if man, err = app.ToManWithSection(1); err != nil {
		return "", "", err
	}
	if markdown, err = app.ToMarkdown(); err != nil {
		return "", "", err
	}
	return man, markdown, nil
}
