package output

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/report"
)

// documentReportJSON is how WriteReportJSON wrote before it appended by
// hand: the reference its lines must equal byte for byte.
func documentReportJSON(w *bytes.Buffer, r report.Report) error {
	r.Received = Time(r.Received)
	return Document(w, "watch", r)
}

// reportJSONRows is the rows of a 1,000-device fleet and rows whose
// reports carry text the encoder escapes, fractional times in other
// zones, unknown codes, and an unseen row.
func reportJSONRows() []fleet.Row {
	f, _ := statusBenchFleet(1000)
	rows := f.View(fleet.Filter{}, 0).Rows
	at := time.Date(2026, 5, 1, 12, 0, 0, 987654321, time.FixedZone("x", -7*3600))
	odd := []string{"<a&b>", "r&d", `q"\`, "bad\xffutf8", "ctl\x01\n", "\u2028", "caf\u00e9", ""}
	for i, s := range odd {
		rows = append(rows, fleet.Row{Seen: true, Report: report.Report{
			Device: s, Package: odd[(i+1)%len(odd)], Version: s + s, Target: odd[(i+2)%len(odd)],
			Topic: "t/" + s, State: report.State(i - 1), Reason: report.Reason(20 - i),
			Received: at.Add(time.Duration(i) * time.Hour),
		}})
	}
	rows = append(rows, fleet.Row{Seen: true, Report: report.Report{Device: "no-time"}})
	return append(rows, fleet.Row{Report: report.Report{Device: "unseen"}})
}

func TestWriteReportJSONIsDocument(t *testing.T) {
	var want, got, all bytes.Buffer
	rows := reportJSONRows()
	for _, row := range rows {
		want.Reset()
		got.Reset()
		if err := documentReportJSON(&want, row.Report); err != nil {
			t.Fatal(err)
		}
		if err := WriteReportJSON(&got, row.Report); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("WriteReportJSON\n%s\nwant (Document)\n%s", got.Bytes(), want.Bytes())
		}
	}
	var wantAll bytes.Buffer
	for _, row := range rows {
		if row.Seen {
			documentReportJSON(&wantAll, row.Report)
		}
	}
	if err := WriteSeenReportsJSON(&all, slices.Values(rows)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(all.Bytes(), wantAll.Bytes()) {
		t.Errorf("WriteSeenReportsJSON: %d bytes, want the %d of Document's lines of the seen rows", all.Len(), wantAll.Len())
	}
}

// BenchmarkWatchOnceJSON writes the watch --once -o json lines of 10,000
// rows: through Document (before) and WriteSeenReportsJSON (after).
func BenchmarkWatchOnceJSON(b *testing.B) {
	f, _ := statusBenchFleet(10000)
	rows := f.View(fleet.Filter{}, 0).Rows
	b.Run("document", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for range b.N {
			buf.Reset()
			for _, row := range rows {
				if err := documentReportJSON(&buf, row.Report); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for range b.N {
			buf.Reset()
			if err := WriteSeenReportsJSON(&buf, slices.Values(rows)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
