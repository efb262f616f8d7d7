package output

import (
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"github.com/charmbracelet/x/ansi"
)

// Table is rows of cells under a header.
type Table struct {
	Header []string
	Rows   [][]string
	// Width, above 0, fits a terminal table to that many columns (see
	// fit); piped output stays whole.
	Width int
	// Optional names the columns (by header) that may be left out when
	// the table does not fit, the first named first.
	Optional []string
}

// minHash is how much of a hash a fitted table keeps, as git and docker
// show short ids.
const minHash = 12

// fit returns t fitted to t.Width: first hash columns (hex of 16 digits or
// more in every row) are cut, as far as needed but to no fewer than 12
// digits, with an ellipsis, then optional
// columns are left out, then the widest columns are cut with an ellipsis.
func (t Table) fit() Table {
	if t.Width <= 0 || len(t.Header) == 0 {
		return t
	}
	n := len(t.Header)
	widths := make([]int, n)
	for c := range n {
		widths[c] = ansi.StringWidth(t.Header[c])
		for _, row := range t.Rows {
			if c < len(row) {
				widths[c] = max(widths[c], ansi.StringWidth(row[c]))
			}
		}
	}
	keep := make([]bool, n)
	for c := range keep {
		keep[c] = true
	}
	total := func() int {
		sum := 0
		for c := range n {
			if keep[c] {
				sum += widths[c] + 2 // a space either side
			}
		}
		return sum
	}
	for c := range n {
		if total() > t.Width && t.hashColumn(c) && widths[c] > minHash+1 {
			widths[c] = max(minHash+1, widths[c]-(total()-t.Width), ansi.StringWidth(t.Header[c]))
		}
	}
	for _, name := range t.Optional {
		for c := range n {
			if total() > t.Width && keep[c] && t.Header[c] == name {
				keep[c] = false
			}
		}
	}
	for total() > t.Width {
		widest := -1
		for c := range n {
			if keep[c] && widths[c] > 4 && (widest < 0 || widths[c] > widths[widest]) {
				widest = c
			}
		}
		if widest < 0 {
			break
		}
		widths[widest] = max(4, widths[widest]-(total()-t.Width))
	}
	cut := func(cells []string) []string {
		var out []string
		for c, cell := range cells {
			if c < n && keep[c] {
				out = append(out, ansi.Truncate(cell, widths[c], "…"))
			}
		}
		return out
	}
	fitted := Table{Header: cut(t.Header)}
	for _, row := range t.Rows {
		fitted.Rows = append(fitted.Rows, cut(row))
	}
	return fitted
}

// hashColumn says whether every row holds hex of 16 digits or more in
// column c.
func (t Table) hashColumn(c int) bool {
	if len(t.Rows) == 0 {
		return false
	}
	for _, row := range t.Rows {
		if c >= len(row) || len(row[c]) < 16 || strings.Trim(row[c], "0123456789abcdefABCDEF") != "" {
			return false
		}
	}
	return true
}

// Write renders t for a terminal (a lipgloss table) or, when tty is false,
// as tab-separated lines with a header line, for pipes and scripts.
func (t Table) Write(w io.Writer, tty bool) error {
	if !tty {
		var b strings.Builder
		b.WriteString(strings.Join(t.Header, "\t"))
		b.WriteByte('\n')
		for _, row := range t.Rows {
			b.WriteString(strings.Join(row, "\t"))
			b.WriteByte('\n')
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	t = t.fit()
	header := lipgloss.NewStyle().Bold(true).Padding(0, 1)
	cell := lipgloss.NewStyle().Padding(0, 1)
	tbl := table.New().
		Border(lipgloss.NormalBorder()).
		BorderColumn(false).
		BorderRow(false).
		BorderLeft(false).
		BorderRight(false).
		BorderTop(false).
		BorderBottom(false).
		Headers(t.Header...).
		Rows(t.Rows...).
		StyleFunc(func(row, _ int) lipgloss.Style {
			if row == table.HeaderRow {
				return header
			}
			return cell
		})
	_, err := fmt.Fprintln(w, tbl.Render())
	return err
}
