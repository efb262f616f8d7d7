package output

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/internal/text"
)

// GitHub writes GitHub Actions workflow commands: groups that fold a
// stage's output in the job's log, error annotations, and a markdown
// summary appended to the file $GITHUB_STEP_SUMMARY names. A nil *GitHub
// (outside GitHub Actions) writes nothing, so a command calls it
// unconditionally. It renders; what to group, annotate or summarize is
// the caller's.
type GitHub struct {
	w       io.Writer
	summary string // the step summary file; "" for none
	open    bool   // a group is open
}

// NewGitHub is the GitHub Actions output on w when getenv says the
// process runs in GitHub Actions (GITHUB_ACTIONS=true), else nil. The
// runner reads workflow commands on standard output and standard error
// alike: w is standard error, so that standard output keeps only data.
func NewGitHub(getenv func(string) string, w io.Writer) *GitHub {
	if getenv("GITHUB_ACTIONS") != "true" {
		return nil
	}
	return &GitHub{w: w, summary: getenv("GITHUB_STEP_SUMMARY")}
}

// Group starts a folded group titled title, ending the open one first:
// GitHub does not nest groups.
func (g *GitHub) Group(title string) {
	if g == nil {
		return
	}
	g.EndGroup()
	fmt.Fprintf(g.w, "::group::%s\n", escapeData(title))
	g.open = true
}

// EndGroup ends the open group, if any.
func (g *GitHub) EndGroup() {
	if g == nil || !g.open {
		return
	}
	fmt.Fprintln(g.w, "::endgroup::")
	g.open = false
}

// Error annotates the run with an error: msg, under title when not empty.
func (g *GitHub) Error(title, msg string) {
	if g == nil {
		return
	}
	if title == "" {
		fmt.Fprintf(g.w, "::error::%s\n", escapeData(msg))
		return
	}
	fmt.Fprintf(g.w, "::error title=%s::%s\n", escapeProperty(title), escapeData(msg))
}

// Summary appends markdown to the step summary, as GitHub expects (each
// step's file is shown after the job); without $GITHUB_STEP_SUMMARY it
// does nothing.
func (g *GitHub) Summary(markdown string) error {
	if g == nil || g.summary == "" {
		return nil
	}
	if !strings.HasSuffix(markdown, "\n") {
		markdown += "\n"
	}
	if err := regularfile.Append(g.summary, []byte(markdown)); err != nil {
		return fmt.Errorf("GITHUB_STEP_SUMMARY: %w", err)
	}
	return nil
}

// GateErrors annotates each failed device of a gate's result, at most max
// (all when max <= 0), titled with the device and saying its reason.
// GitHub shows at most 10 error annotations of a step.
func (g *GitHub) GateErrors(res fleet.GateResult, max int) {
	for i, r := range res.Failures {
		if max > 0 && i == max {
			g.Error("", fmt.Sprintf("… and %d more failed devices", len(res.Failures)-max))
			return
		}
		line := describeRow(r, res.Time)
		id, rest, _ := strings.Cut(line, ": ")
		g.Error("device "+id, rest)
	}
}

// escapeData escapes a workflow command's message: %, CR and LF.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a workflow command's property value: as data,
// and : and , too.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// GateMarkdown is a gate's result as markdown for a summary: a heading
// (title), a table of the counts and the verdict, then a table of the
// failed devices and, when not done, of the pending ones, at most max rows
// each (all when max <= 0).
func GateMarkdown(title string, res fleet.GateResult, max int) string {
	stale := 0
	for _, r := range res.Pending {
		if r.Status == fleet.StatusStale {
			stale++
		}
	}
	n := strconv.Itoa
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", mdCell(title))
	b.WriteString(MarkdownTable(
		[]string{"verdict", "package", "version", "updated", "need", "failed", "allowed", "pending", "stale"},
		[][]string{{res.Verdict, res.Package, res.Version, n(res.Updated) + " of " + n(res.Total), n(res.Need),
			n(res.FailedCount), n(res.Allowed), n(res.PendingCount), n(stale)}}))
	devices := func(heading string, rows []fleet.Row, extra int) {
		if len(rows)+extra == 0 {
			return
		}
		var cells [][]string
		for i, r := range rows {
			if max > 0 && i == max {
				cells = append(cells, []string{fmt.Sprintf("… %d more", len(rows)-max)})
				break
			}
			rep := r.Report
			if !r.Seen {
				cells = append(cells, []string{rep.Device, r.Status.String(), "no report"})
				continue
			}
			cells = append(cells, []string{rep.Device, r.Status.String(), rep.State.String(), rep.Reason.Describe(), text.Dash(rep.Version), text.Dash(rep.Target)})
		}
		if extra > 0 {
			cells = append(cells, []string{fmt.Sprintf("%d expected devices", extra), "not reported"})
		}
		fmt.Fprintf(&b, "\n**%s**\n\n", heading)
		b.WriteString(MarkdownTable([]string{"device", "status", "state", "reason", "running", "target"}, cells))
	}
	devices("failed devices", res.Failures, 0)
	if res.Verdict != "done" {
		devices("pending devices", res.Pending, res.NotKnown)
	}
	return b.String()
}

// mdCell is s made safe for a markdown table cell: printable, on one
// line, with | escaped.
func mdCell(s string) string {
	return strings.ReplaceAll(text.OneLine(text.Printable(s)), "|", `\|`)
}

// MarkdownTable is a markdown table: header, then rows, each cell made
// safe for a table (printable, on one line, | escaped); a short row is
// padded with empty cells.
func MarkdownTable(header []string, rows [][]string) string {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i := range header {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			b.WriteString(" " + mdCell(c) + " |")
		}
		b.WriteString("\n")
	}
	line(header)
	b.WriteString(strings.Repeat("|---", len(header)) + "|\n")
	for _, r := range rows {
		line(r)
	}
	return b.String()
}
