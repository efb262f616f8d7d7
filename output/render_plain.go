package output

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/report"
)

// WriteReportLine writes r as one tab-separated line for pipes: time
// (RFC 3339, UTC), device, package, state, reason, version, target, topic;
// "-" stands for an empty field.
func WriteReportLine(w io.Writer, r report.Report) error {
	_, err := io.WriteString(w, strings.Join([]string{
		plainTime(r.Received),
		plainField(r.Device),
		plainField(r.Package),
		r.State.String(),
		r.Reason.String(),
		plainField(r.Version),
		plainField(r.Target),
		plainField(r.Topic),
	}, "\t")+"\n")
	return err
}

// RowsHeader is the header line WriteRows writes first.
var RowsHeader = []string{"DEVICE", "PACKAGE", "STATUS", "STATE", "REASON", "VERSION", "TARGET", "TIME"}

// WriteRows writes rows as tab-separated lines under a header, for pipes:
// device, package, status, state, reason (a retrying device's last
// failure, when seen: see reasonText), version, target (resolved) and the
// report's time (RFC 3339, UTC); "-" stands for an empty field.
func WriteRows(w io.Writer, rows []fleet.Row) error {
	var b strings.Builder
	b.WriteString(strings.Join(RowsHeader, "\t"))
	b.WriteByte('\n')
	for _, r := range rows {
		state, reason, at := "-", "-", "-"
		if r.Seen {
			state, reason, at = r.Report.State.String(), reasonText(r), plainTime(r.Report.Received)
		}
		b.WriteString(strings.Join([]string{
			plainField(r.Report.Device),
			plainField(r.Report.Package),
			r.Status.String(),
			state,
			reason,
			plainField(r.Report.Version),
			plainField(r.Target),
			at,
		}, "\t"))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// reasonText is a row's reason by name; for a device retrying (the status
// says it awaits a retry) it is its last failure's, when the watch saw it.
func reasonText(r fleet.Row) string {
	if r.Status == fleet.StatusRetrying && r.LastFailure != 0 {
		return r.LastFailure.String()
	}
	return r.Report.Reason.String()
}

func plainTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// plainField makes s safe for one tab-separated field.
func plainField(s string) string {
	return text.Dash(strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s))
}

// shortAge is a duration in its largest whole unit: "42s", "5m", "3h", "2d".
func shortAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}
