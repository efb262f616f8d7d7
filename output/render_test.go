package output

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/fleet/fleettest"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/report"
)

func TestRenderFrameGolden(t *testing.T) {
	demo, _ := fleettest.Demo()
	empty, _ := fleettest.New()
	tests := []struct {
		name   string
		fleet  *fleet.Fleet
		filter fleet.Filter
		opts   FrameOptions
	}{
		{"frame_100x30", demo, fleet.Filter{}, FrameOptions{Width: 100, Height: 30}},
		{"frame_80x24_title", demo, fleet.Filter{}, FrameOptions{Width: 80, Height: 24, Title: "otactl watch · mqtt://127.0.0.1:1883 · q to quit"}},
		{"frame_60x16", demo, fleet.Filter{}, FrameOptions{Width: 60, Height: 16}},
		{"frame_40x12_main", demo, fleet.Filter{Package: "main"}, FrameOptions{Width: 40, Height: 12}},
		{"frame_unlimited_failed", demo, fleet.Filter{FailedOnly: true}, FrameOptions{}},
		{"frame_80x5_tiny", demo, fleet.Filter{}, FrameOptions{Width: 80, Height: 5}},
		{"frame_empty", empty, fleet.Filter{}, FrameOptions{Width: 80, Height: 24}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Renderer = PlainRenderer()
			v := tt.fleet.View(tt.filter, tt.opts.Height)
			golden(t, tt.name+".golden", RenderFrame(v, tt.opts)+"\n")
		})
	}
}

func TestRenderStatusGolden(t *testing.T) {
	demo, _ := fleettest.Demo()
	golden(t, "status_main.golden", RenderStatus(demo.Status(fleet.Filter{Package: "main"}), FrameOptions{Width: 120, Renderer: PlainRenderer()})+"\n")
	done, _ := fleettest.FromLines("a 3 1 1.1 -", "b 0 0 1.1 -")
	golden(t, "status_done.golden", RenderStatus(done.Status(fleet.Filter{}), FrameOptions{Width: 120, Renderer: PlainRenderer()})+"\n")
}

// TestRenderFrameFits checks every frame size: no line wider than the
// width, no more lines than the height, trouble first, and every row
// either shown or counted in the "… N more" line.
func TestRenderFrameFits(t *testing.T) {
	f, _ := fleettest.Demo()
	more := regexp.MustCompile(`^… (\d+) more$`)
	row := regexp.MustCompile(`^dev-\d\d `)
	for w := 20; w <= 130; w += 11 {
		for h := 1; h <= 40; h += 4 {
			v := f.View(fleet.Filter{}, h)
			frame := RenderFrame(v, FrameOptions{Width: w, Height: h, Renderer: PlainRenderer()})
			lines := strings.Split(frame, "\n")
			if len(lines) > h {
				t.Errorf("%dx%d: %d lines", w, h, len(lines))
			}
			shown, hidden := 0, 0
			for i, l := range lines {
				if ansi.StringWidth(l) > w {
					t.Errorf("%dx%d: line %d is %d wide: %q", w, h, i, ansi.StringWidth(l), l)
				}
				if row.MatchString(l) {
					shown++
				}
				if m := more.FindStringSubmatch(l); m != nil {
					fmt.Sscan(m[1], &hidden)
				}
			}
			if shown > 0 && !strings.Contains(frame, "dev-00") {
				t.Errorf("%dx%d: the first failed device is not shown", w, h)
			}
			if w >= 30 && len(lines) == h && hidden != 0 && shown+hidden != v.Total {
				t.Errorf("%dx%d: %d shown + %d more != %d rows", w, h, shown, hidden, v.Total)
			}
		}
	}
}

func TestRenderFrameColour(t *testing.T) {
	f, _ := fleettest.Demo()
	v := f.View(fleet.Filter{}, 30)
	color := lipgloss.NewRenderer(io.Discard)
	color.SetColorProfile(termenv.ANSI256)
	coloured := RenderFrame(v, FrameOptions{Width: 100, Height: 30, Renderer: color})
	plain := RenderFrame(v, FrameOptions{Width: 100, Height: 30, Renderer: PlainRenderer()})
	if !strings.Contains(coloured, "\x1b[") {
		t.Error("no colour with a colour profile")
	}
	if strings.Contains(plain, "\x1b") {
		t.Error("escape codes with the Ascii profile")
	}
	if ansi.Strip(coloured) != plain {
		t.Errorf("colour changes the text:\n%s\n---\n%s", ansi.Strip(coloured), plain)
	}
}

func TestRenderNeverPassesEscapes(t *testing.T) {
	f, c := fleettest.New()
	evil := "devices/\x1b]0;pwned\x07/.u/c/main"
	f.Ingest(report.FromMessage(protocol.Topics{}, evil, []byte(`{"s":0}`), c.Now()))
	f.Malformed("\x1b[2J\u202e", fmt.Errorf("bad \x9b31m"))
	f.Apply(report.Report{Device: "d\x1b[31m", Package: "main\x00", Version: "\x1b[0m", Target: "\u200f1"})
	f.SetDesired(protocol.FleetTarget(), 1, map[string]string{"main\x00": "\x1b[5m"})
	v := f.View(fleet.Filter{}, 0)
	var out bytes.Buffer
	out.WriteString(RenderFrame(v, FrameOptions{Width: 200, Height: 50, Renderer: PlainRenderer()}))
	out.WriteString(strings.Join(SummaryLines(v.Summary), "\n"))
	if err := WriteRows(&out, v.Rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range v.Rows {
		if err := WriteReportLine(&out, r.Report); err != nil {
			t.Fatal(err)
		}
	}
	out.WriteString(DescribeGate(fleet.Evaluate(f, fleet.Gate{Version: "1", Package: "main\x00"}), 0))
	for i, r := range out.String() {
		if r == '\x1b' || r == '\x9b' || r == '\x07' || r == 0 || r == '\u202e' || r == '\u200f' {
			t.Fatalf("control character %U at %d in:\n%q", r, i, out.String())
		}
	}
}

func TestWritePlain(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 123, time.FixedZone("CEST", 7200))
	r := report.Report{Device: "d1", Package: "main", State: report.Downloading, Reason: report.ReasonIOError,
		Version: "1.0", Topic: "devices/d1/.u/c/main", Received: at}
	var b bytes.Buffer
	if err := WriteReportLine(&b, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteReportLine(&b, report.Report{Device: "d2", Package: "x\ty", State: 9, Reason: 77}); err != nil {
		t.Fatal(err)
	}
	want := "2026-05-01T10:00:00Z\td1\tmain\tdownloading\tio-error\t1.0\t-\tdevices/d1/.u/c/main\n" +
		"-\td2\tx?y\t9\t77\t-\t-\t-\n"
	if b.String() != want {
		t.Errorf("plain lines\n got %q\nwant %q", b.String(), want)
	}

	b.Reset()
	if err := WriteReportJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	// A document of schema watch, its time to the second (docs/json.md).
	wantJSON := `{"schema":"otactl/watch/v1","device":"d1","package":"main","state":1,"stateName":"downloading","reason":10,"reasonName":"io-error","version":"1.0","target":"","time":"2026-05-01T10:00:00Z","topic":"devices/d1/.u/c/main"}` + "\n"
	if b.String() != wantJSON {
		t.Errorf("JSON line\n got %s\nwant %s", b.String(), wantJSON)
	}

	f, _ := fleettest.FromLines("a 1 5 1.0 1.1", "b 3 1 1.1 -")
	b.Reset()
	if err := WriteRows(&b, f.View(fleet.Filter{Package: "main", Devices: []string{"a", "b", "c"}}, 0).Rows); err != nil {
		t.Fatal(err)
	}
	wantRows := "DEVICE\tPACKAGE\tSTATUS\tSTATE\tREASON\tVERSION\tTARGET\tTIME\n" +
		"a\tmain\tfailed\tdownloading\tintegrity-check-failed\t1.0\t1.1\t2026-05-01T12:00:00Z\n" +
		"c\tmain\tpending\t-\t-\t-\t-\t-\n" +
		"b\tmain\tdone\tupdated\tupdated\t1.1\t-\t2026-05-01T12:00:00Z\n"
	if b.String() != wantRows {
		t.Errorf("rows\n got %q\nwant %q", b.String(), wantRows)
	}
}

func TestShortAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 0: "0s", 59 * time.Second: "59s", time.Minute: "1m", 59 * time.Minute: "59m",
		time.Hour: "1h", 47 * time.Hour: "47h", 48 * time.Hour: "2d", 100 * 24 * time.Hour: "100d",
	} {
		if got := shortAge(d); got != want {
			t.Errorf("shortAge(%v) = %q, want %q", d, got, want)
		}
	}
}
