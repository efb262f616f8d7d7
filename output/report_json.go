package output

import (
	"bufio"
	"io"
	"iter"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/report"
)

// watchHead opens every document of schema "watch".
var watchHead = `{"schema":"` + SchemaID("watch") + `"`

// WriteReportJSON writes r as one line of JSON, a document of schema
// "watch" (see report.Report.MarshalJSON), its time to the second.
func WriteReportJSON(w io.Writer, r report.Report) error {
	line, err := appendReportJSON(nil, r)
	if err != nil {
		return err
	}
	_, err = w.Write(line)
	return err
}

// WriteSeenReportsJSON writes the report of each seen row, in order, as
// WriteReportJSON does, through one buffer: the lines of watch --once -o
// json. rows may be a slice's (slices.Values) or fleet.Fleet.Rows, which
// builds no slice of a million rows. An error stops the rows and leaves
// the lines before it written.
func WriteSeenReportsJSON(w io.Writer, rows iter.Seq[fleet.Row]) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	var err error
	for row := range rows {
		if !row.Seen {
			continue
		}
		if line, err = appendReportJSON(line[:0], row.Report); err != nil {
			bw.Flush()
			return err
		}
		if _, err = bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendReportJSON appends r's line: the bytes Document(w, "watch", r)
// writes, the time to the second, without reflection or compaction.
func appendReportJSON(b []byte, r report.Report) ([]byte, error) {
	r.Received = Time(r.Received)
	start := len(b)
	b = append(b, watchHead...)
	mark := len(b)
	out, err := r.AppendJSON(b)
	if err != nil {
		return b[:start], err
	}
	b = out
	b[mark] = ',' // the report's '{' goes on after the schema
	return append(b, '\n'), nil
}
