package output

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/report"
)

// FrameOptions says where a frame is drawn.
type FrameOptions struct {
	// Width and Height are the terminal's size in cells; 0 means no limit.
	Width, Height int
	// Renderer decides the colours (its colour profile); nil is lipgloss's
	// default renderer, for stdout. Use one made for the stream the frame
	// goes to, and the Ascii profile for no colour.
	Renderer *lipgloss.Renderer
	// Title, when set, is the frame's first line.
	Title string
}

// frameStyles are the styles of one renderer.
type frameStyles struct {
	header, cell, bold, failed, retrying, stale, pending, done, faint lipgloss.Style
}

func newFrameStyles(r *lipgloss.Renderer) frameStyles {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	return frameStyles{
		header:   r.NewStyle().Bold(true).PaddingRight(2),
		cell:     r.NewStyle().PaddingRight(2),
		bold:     r.NewStyle().Bold(true),
		failed:   r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		retrying: r.NewStyle().Foreground(lipgloss.Color("5")).Bold(true),
		stale:    r.NewStyle().Foreground(lipgloss.Color("3")),
		pending:  r.NewStyle().Foreground(lipgloss.Color("4")),
		done:     r.NewStyle().Foreground(lipgloss.Color("2")),
		faint:    r.NewStyle().Faint(true),
	}
}

func (s frameStyles) status(st fleet.RowStatus) lipgloss.Style {
	switch st {
	case fleet.StatusFailed:
		return s.failed
	case fleet.StatusRetrying:
		return s.retrying
	case fleet.StatusStale:
		return s.stale
	case fleet.StatusPending:
		return s.pending
	}
	return s.done
}

// RenderFrame draws a view for a terminal: the summary, then a table of
// the rows, trouble first, as many as fit in opts.Height with a "… N more"
// line for the rest, each line cut to opts.Width. The frame has no final
// newline. Ask the fleet for a view with a limit of opts.Height rows: no
// more can show.
func RenderFrame(v fleet.View, opts FrameOptions) string {
	st := newFrameStyles(opts.Renderer)
	var lines []string
	if opts.Title != "" {
		lines = append(lines, st.bold.Render(text.Printable(opts.Title)))
	}
	lines = append(lines, summaryLines(v.Summary, st)...)
	lines = append(lines, "")

	rows := v.Rows
	more := v.Total - len(rows)
	need := 3 // header, rule and a row
	if v.Total > 1 {
		need++ // and the "… N more" line
	}
	if opts.Height > 0 && v.Total > 0 && opts.Height < len(lines)+need {
		// No room for a single row: as much summary as fits, and the count.
		lines = lines[:min(len(lines), max(opts.Height-1, 0))]
		if opts.Height > len(lines) {
			lines = append(lines, st.faint.Render(fmt.Sprintf("… %d more", v.Total)))
		}
		return fitWidth(lines, opts.Width)
	}
	if opts.Height > 0 {
		room := opts.Height - len(lines) - 2 // the table's header and its rule
		if len(rows) > room || more > 0 {
			room-- // the "… N more" line
			if room < 0 {
				room = 0
			}
			if room < len(rows) {
				more += len(rows) - room
				rows = rows[:room]
			}
		}
	}
	switch {
	case v.Total == 0:
		lines = append(lines, st.faint.Render("no reports yet"))
	case len(rows) > 0:
		lines = append(lines, strings.Split(renderRows(rows, v, st, opts.Width), "\n")...)
	}
	if more > 0 {
		lines = append(lines, st.faint.Render(fmt.Sprintf("… %d more", more)))
	}
	if opts.Height > 0 && len(lines) > opts.Height {
		lines = lines[:opts.Height]
	}
	return fitWidth(lines, opts.Width)
}

// fitWidth cuts each line to width (0: no limit) and joins the lines.
func fitWidth(lines []string, width int) string {
	if width > 0 {
		for i, l := range lines {
			if ansi.StringWidth(l) > width {
				lines[i] = ansi.Truncate(l, width, "…")
			}
		}
	}
	return strings.Join(lines, "\n")
}

// PlainRenderer is a lipgloss renderer that draws no colour.
func PlainRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return r
}

// RenderStatus draws what `rollout status` prints on a terminal: the
// summary, then every device not done, trouble first, however many.
func RenderStatus(s fleet.StatusReport, opts FrameOptions) string {
	v := fleet.View{Now: s.Time, Summary: s.Summary, Rows: s.NotDone, Total: len(s.NotDone)}
	opts.Height = 0
	if len(s.NotDone) == 0 {
		st := newFrameStyles(opts.Renderer)
		lines := summaryLines(s.Summary, st)
		lines = append(lines, "", st.done.Render("every device is done"))
		return strings.Join(lines, "\n")
	}
	return RenderFrame(v, opts)
}

// SummaryLines is the summary in words, one line each, without colour.
func SummaryLines(s fleet.Summary) []string {
	return summaryLines(s, newFrameStyles(PlainRenderer()))
}

func summaryLines(s fleet.Summary, st frameStyles) []string {
	// Devices and progress to the target.
	head := text.Plural(s.Devices, "device")
	if s.Reports != s.Devices {
		head += ", " + text.Plural(s.Reports, "report")
	}
	if s.Unseen > 0 {
		head += ", " + strconv.Itoa(s.Unseen) + " never reported"
	}
	switch {
	case s.Targeted == 0:
		head += " · no target"
	case s.Target != "":
		head += fmt.Sprintf(" · updated %d/%d (%s%%) to %s", s.Updated, s.Targeted, percent(s.UpdatedPercent), text.Printable(s.Target))
	default:
		head += fmt.Sprintf(" · updated %d/%d (%s%%) to %d targets", s.Updated, s.Targeted, percent(s.UpdatedPercent), s.Targets)
	}
	lines := []string{st.bold.Render(head)}

	// Standing, trouble first; retrying only when some device is.
	standing := []string{styleIf(s.Failed > 0, st.failed, "failed "+strconv.Itoa(s.Failed))}
	if s.Retrying > 0 {
		standing = append(standing, st.retrying.Render("retrying "+strconv.Itoa(s.Retrying)))
	}
	lines = append(lines, strings.Join(append(standing,
		styleIf(s.Stale > 0, st.stale, "stale "+strconv.Itoa(s.Stale)),
		"pending "+strconv.Itoa(s.Pending),
		"done "+strconv.Itoa(s.Done),
		styleIf(s.Malformed > 0, st.stale, "malformed "+strconv.Itoa(s.Malformed)),
	), " · "))
	if len(s.Failures) > 0 {
		parts := make([]string, len(s.Failures))
		for i, f := range s.Failures {
			parts[i] = fmt.Sprintf("%s %d", f.Name, f.Count)
		}
		lines = append(lines, st.failed.Render("failures: "+strings.Join(parts, ", ")))
	}

	// Reports per state: the four known ones always, unknown codes after.
	states := make([]string, 0, 4)
	for _, known := range []report.State{report.Idle, report.Downloading, report.Downloaded, report.Updated} {
		states = append(states, fmt.Sprintf("%s %d", known, s.States[known.String()]))
	}
	var unknown []int
	for name := range s.States {
		if n, err := strconv.Atoi(name); err == nil {
			unknown = append(unknown, n)
		}
	}
	slices.Sort(unknown)
	for _, n := range unknown {
		states = append(states, fmt.Sprintf("state %d: %d", n, s.States[strconv.Itoa(n)]))
	}
	lines = append(lines, "states: "+strings.Join(states, " · "))

	if n := len(s.RecentMalformed); s.Malformed > 0 && n > 0 {
		m := s.RecentMalformed[n-1]
		lines = append(lines, st.faint.Render(fmt.Sprintf("last malformed: %s: %s", text.Printable(m.Topic), text.Printable(m.Error))))
	}
	return lines
}

func styleIf(cond bool, s lipgloss.Style, text string) string {
	if cond {
		return s.Render(text)
	}
	return text
}

func percent(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64)
}

// tableHeader is the live table's header.
var tableHeader = []string{"DEVICE", "PACKAGE", "STATUS", "STATE", "REASON", "VERSION", "TARGET", "AGE"}

// Columns of the table, and the order they give way in when the table is
// too wide: the package when all rows share it, then age, state, package,
// version and target.
const (
	colDevice = iota
	colPackage
	colStatus
	colState
	colReason
	colVersion
	colTarget
	colAge
)

var dropOrder = []int{colAge, colState, colPackage, colVersion, colTarget}

// renderRows draws rows as a lipgloss table no wider than width (0: any):
// when too wide, whole columns give way first, then cells are cut.
func renderRows(rows []fleet.Row, v fleet.View, st frameStyles, width int) string {
	cells := make([][]string, len(rows))
	for i, r := range rows {
		state, reason, age := "-", "-", "never"
		if r.Seen {
			state = r.Report.State.String()
			reason = reasonText(r)
			if r.Report.Reason == report.ReasonReady {
				reason = ""
			}
			age = shortAge(v.Now.Sub(r.Report.Received))
		}
		cells[i] = []string{
			text.Printable(r.Report.Device),
			text.Printable(r.Report.Package),
			r.Status.String(),
			state,
			reason,
			text.Dash(text.Printable(r.Report.Version)),
			text.Dash(text.Printable(r.Target)),
			age,
		}
	}
	keep := []int{colDevice, colPackage, colStatus, colState, colReason, colVersion, colTarget, colAge}
	build := func() *table.Table {
		header := make([]string, len(keep))
		for i, c := range keep {
			header[i] = tableHeader[c]
		}
		data := make([][]string, len(cells))
		for r, row := range cells {
			data[r] = make([]string, len(keep))
			for i, c := range keep {
				data[r][i] = row[c]
			}
		}
		return table.New().
			Border(lipgloss.NormalBorder()).
			BorderStyle(st.faint).
			BorderTop(false).BorderBottom(false).BorderLeft(false).BorderRight(false).
			BorderColumn(false).BorderRow(false).
			Wrap(false).
			Headers(header...).
			Rows(data...).
			StyleFunc(func(row, i int) lipgloss.Style {
				var s lipgloss.Style
				switch c := keep[i]; {
				case row == table.HeaderRow:
					s = st.header
				case c == colStatus || (c == colReason && (rows[row].Status == fleet.StatusFailed || rows[row].Status == fleet.StatusRetrying)):
					s = st.status(rows[row].Status).PaddingRight(2)
				default:
					s = st.cell
				}
				if i == len(keep)-1 {
					s = s.PaddingRight(0)
				}
				return s
			})
	}
	render := func(t *table.Table) string {
		lines := strings.Split(t.Render(), "\n")
		for i, l := range lines {
			lines[i] = strings.TrimRight(l, " ")
		}
		return strings.Join(lines, "\n")
	}
	if width <= 0 {
		return render(build())
	}
	drops := dropOrder
	if onePackage(rows) {
		drops = append([]int{colPackage}, drops...)
	}
	for _, drop := range drops {
		if tableWidth(cells, keep) <= width {
			break
		}
		keep = slices.DeleteFunc(keep, func(c int) bool { return c == drop })
	}
	// Still too wide: cut the reason, then the device id, to a minimum.
	for _, cut := range []struct{ col, min int }{{colReason, 8}, {colDevice, 10}} {
		excess := tableWidth(cells, keep) - width
		if excess <= 0 {
			break
		}
		w := columnWidth(cells, cut.col)
		to := max(cut.min, w-excess)
		for _, row := range cells {
			row[cut.col] = ansi.Truncate(row[cut.col], to, "…")
		}
	}
	out := render(build())
	if lipgloss.Width(out) > width {
		out = render(build().Width(width))
	}
	return out
}

// tableWidth is the width of a table of cells' columns keep, two cells
// between columns.
func tableWidth(cells [][]string, keep []int) int {
	w := 2 * (len(keep) - 1)
	for _, c := range keep {
		w += max(columnWidth(cells, c), ansi.StringWidth(tableHeader[c]))
	}
	return w
}

func columnWidth(cells [][]string, col int) int {
	w := 0
	for _, row := range cells {
		w = max(w, ansi.StringWidth(row[col]))
	}
	return w
}

// onePackage reports whether all rows are about the same package.
func onePackage(rows []fleet.Row) bool {
	for _, r := range rows[1:] {
		if r.Report.Package != rows[0].Report.Package {
			return false
		}
	}
	return true
}
