package report

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// oddTexts are strings json.Marshal escapes or replaces: quotes,
// backslashes, controls, HTML characters, invalid UTF-8, U+2028/2029.
var oddTexts = []string{
	"", "dev-1", `q"uote`, `back\slash`, "tab\there", "nl\n", "\x00\x1f\x7f",
	"<b>&amp;</b>", "r&d", "caf\u00e9", "bad\xff\xfeutf8", "line\u2028sep\u2029", "emoji \U0001F680",
}

// jsonCases is many reports with every odd text in every field, unknown
// state and reason codes, and times zero, fractional, in other zones.
func jsonCases() []Report {
	times := []time.Time{
		{},
		time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.FixedZone("x", 5*3600+1800)),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.Local),
	}
	var rs []Report
	for i, s := range oddTexts {
		for j := range oddTexts {
			t := oddTexts[(i+j)%len(oddTexts)]
			rs = append(rs, Report{
				Device: s, Package: t, Version: oddTexts[j], Target: t + s, Topic: s + "/" + t,
				State: State(i%6 - 1), Reason: Reason(j%14 - 1), Received: times[(i+j)%len(times)],
			})
		}
	}
	return rs
}

func TestAppendJSONIsMarshalJSON(t *testing.T) {
	for i, r := range jsonCases() {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.AppendJSON([]byte("keep"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, append([]byte("keep"), want...)) {
			t.Errorf("case %d: AppendJSON\n%s\nwant\n%s", i, got, want)
		}
	}
}

func TestAppendJSONYearOutOfRange(t *testing.T) {
	r := Report{Device: "d", Received: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := json.Marshal(r); err == nil {
		t.Fatal("json.Marshal took year 10000")
	}
	if _, err := r.AppendJSON(nil); err == nil {
		t.Error("AppendJSON took year 10000")
	}
}

// BenchmarkReportJSON compares the reflection encoder with AppendJSON.
func BenchmarkReportJSON(b *testing.B) {
	r := Report{
		Device: "bench-000123", Package: "main", State: Downloading, Reason: ReasonIntegrityCheckFailed,
		Version: "1.0.0", Target: "1.1.0", Topic: "otactl/devices/bench-000123/fw/main/state",
		Received: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
	}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for range b.N {
			var err error
			if buf, err = r.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
