package output

import (
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
)

// Table is rows of cells under a header.
type Table struct {
	Header []string
	Rows   [][]string
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
