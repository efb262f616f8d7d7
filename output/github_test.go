package output

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/fleet/fleettest"
)

// vars is an environment; get is its getenv.
type vars map[string]string

func (v vars) get(k string) string { return v[k] }

func TestGitHubOnlyInActions(t *testing.T) {
	var buf bytes.Buffer
	for _, v := range []string{"", "false", "1", "TRUE"} {
		if g := NewGitHub(vars{"GITHUB_ACTIONS": v}.get, &buf); g != nil {
			t.Errorf("GITHUB_ACTIONS=%q: got a GitHub output", v)
		}
	}
	// A nil one writes nothing and fails nothing.
	var g *GitHub
	g.Group("x")
	g.EndGroup()
	g.Error("t", "m")
	g.GateErrors(fleet.GateResult{Failures: []fleet.Row{{}}}, 0)
	if err := g.Summary("# x"); err != nil || buf.Len() != 0 {
		t.Errorf("nil GitHub: %v, wrote %q", err, buf.String())
	}
	if NewGitHub(vars{"GITHUB_ACTIONS": "true"}.get, &buf) == nil {
		t.Error("GITHUB_ACTIONS=true: no GitHub output")
	}
}

func TestGitHubCommandsEscape(t *testing.T) {
	var buf bytes.Buffer
	g := NewGitHub(vars{"GITHUB_ACTIONS": "true"}.get, &buf)
	for _, step := range []struct {
		do   func()
		want string
	}{
		{func() { g.Group("stage 1: 10%\nof the fleet") }, "::group::stage 1: 10%25%0Aof the fleet\n"},
		// GitHub does not nest groups: a new one ends the open one.
		{func() { g.Group("stage 2") }, "::endgroup::\n::group::stage 2\n"},
		{g.EndGroup, "::endgroup::\n"},
		{g.EndGroup, ""}, // none open
		{func() { g.Error("device a:b, c", "100% failed\r\nnext line") }, "::error title=device a%3Ab%2C c::100%25 failed%0D%0Anext line\n"},
		{func() { g.Error("", "plain: message, with colon") }, "::error::plain: message, with colon\n"},
	} {
		buf.Reset()
		step.do()
		if buf.String() != step.want {
			t.Errorf("wrote %q, want %q", buf.String(), step.want)
		}
	}
}

func TestGitHubSummaryAppends(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "summary.md")
	if err := os.WriteFile(path, []byte("earlier step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := NewGitHub(vars{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": path}.get, &bytes.Buffer{})
	if err := g.Summary("### one"); err != nil {
		t.Fatal(err)
	}
	if err := g.Summary("### two\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "earlier step\n### one\n### two\n" {
		t.Errorf("summary file:\n%s", b)
	}
	// Without the variable: nothing to write, no error.
	if err := NewGitHub(vars{"GITHUB_ACTIONS": "true"}.get, &bytes.Buffer{}).Summary("x"); err != nil {
		t.Error(err)
	}
	// A folder is not a summary file: an error naming the variable.
	g = NewGitHub(vars{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": dir}.get, &bytes.Buffer{})
	if err := g.Summary("x"); err == nil || !strings.Contains(err.Error(), "GITHUB_STEP_SUMMARY") || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("summary to a folder: %v", err)
	}
}

func TestGateMarkdownAndErrors(t *testing.T) {
	f, c := fleettest.FromLines("ok 3 1 1.1 -", "slow 1 0 1.0 1.1", "bad 1 5 1.0 1.1", "worse 1 5 1.0 1.1")
	c.Advance(time.Minute)
	g := fleet.Evaluate(f, fleet.Gate{Version: "1.1", Devices: []string{"ok", "slow", "bad", "ghost"}, MaxFailed: fleet.Threshold{Count: 1}})
	g.Verdict = "timeout"
	md := GateMarkdown("wait: main 1.1", g, 1)
	want := `### wait: main 1.1

| verdict | package | version | updated | need | failed | allowed | pending | stale |
|---|---|---|---|---|---|---|---|---|
| timeout | main | 1.1 | 1 of 4 | 4 | 1 | 1 | 2 | 0 |

**failed devices**

| device | status | state | reason | running | target |
|---|---|---|---|---|---|
| bad | failed | downloading | integrity check failure for new downloaded package | 1.0 | 1.1 |

**pending devices**

| device | status | state | reason | running | target |
|---|---|---|---|---|---|
| ghost | pending | no report |  |  |  |
| … 1 more |  |  |  |  |  |
`
	if md != want {
		t.Errorf("GateMarkdown:\n%s\nwant:\n%s", md, want)
	}
	// Done: no pending table.
	g.Verdict = "done"
	if md := GateMarkdown("x", g, 0); strings.Contains(md, "pending devices") || !strings.Contains(md, "| done |") {
		t.Errorf("done:\n%s", md)
	}
	if tbl := MarkdownTable([]string{"a", "b"}, [][]string{{"x|y", "two\nlines"}}); tbl != "| a | b |\n|---|---|\n| x\\|y | two?lines |\n" {
		t.Errorf("MarkdownTable escapes: %q", tbl)
	}

	var buf bytes.Buffer
	gh := NewGitHub(vars{"GITHUB_ACTIONS": "true"}.get, &buf)
	g = fleet.Evaluate(f, fleet.Gate{Version: "1.1"})
	gh.GateErrors(g, 1)
	want = "::error title=device bad::integrity check failure for new downloaded package (running 1.0, target 1.1, 1m ago)\n" +
		"::error::… and 1 more failed devices\n"
	if buf.String() != want {
		t.Errorf("GateErrors:\n%s\nwant:\n%s", buf.String(), want)
	}
}
