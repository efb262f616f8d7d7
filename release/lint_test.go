package release

import (
	"bufio"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

func lintComp(pkg, ver string) Component {
	return Component{Package: pkg, Version: ver, Hash: h64, Size: 1, URI: ComponentURI(pkg, ver)}
}

func codes(fs []Finding) string {
	var c []string
	for _, f := range fs {
		c = append(c, f.Code)
	}
	return strings.Join(c, ",")
}

func TestLint(t *testing.T) {
	p := func(n int) string { return strings.Repeat("p", n) }
	v := func(n int) string { return strings.Repeat("1", n) }
	tests := []struct {
		name  string
		m     Manifest
		codes string
		want  []string
	}{
		{"fits", Manifest{SequenceNumber: 2147483647, Components: []Component{lintComp(p(13), v(16))}}, "", nil},
		{"long package", Manifest{SequenceNumber: 1, Components: []Component{lintComp(p(17), "1")}}, LintPackageLength,
			[]string{"package ppppppppppppppppp is 17 characters: the Golioth device SDK's default buffers hold 16"}},
		{"long version", Manifest{SequenceNumber: 1, Components: []Component{lintComp("main", "1.2.3-rc.1.build.77")}}, LintVersionLength,
			[]string{"version 1.2.3-rc.1.build.77 of main is 19 characters"}},
		{"two components", Manifest{SequenceNumber: 1, Components: []Component{lintComp("a", "1"), lintComp("b", "1")}}, LintComponents,
			[]string{"2 components", "GOLIOTH_OTA_MAX_NUM_COMPONENTS"}},
		{"sequence past int32", Manifest{SequenceNumber: 3000000000, Components: []Component{lintComp("a", "1")}}, LintSequence,
			[]string{"sequenceNumber 3000000000 is above 2147483647", "reading CBOR (the current SDK) reads -1294967296", "reading JSON (SDK v0.7.0 and earlier) reads 2147483647"}},
		// 14 + 16 + 16 characters: one more than the report buffer takes.
		{"report buffer", Manifest{SequenceNumber: 1, Components: []Component{lintComp(p(14), v(16))}}, LintReportBuffer,
			[]string{"a device updating from a version as long as 1111111111111111 has a state report of 65 bytes (46 characters of package and both versions)", "64-byte report buffer holds (45 characters)", "GOLIOTH_ERR_MEM_ALLOC"}},
		// The example: 35 + 5 + 5 is 45 characters, but a text of
		// 24 characters or more takes a second byte of length.
		{"long package, short versions", Manifest{SequenceNumber: 1, Components: []Component{lintComp(p(35), "1.0.0")}}, LintPackageLength + "," + LintReportBuffer,
			[]string{"state report of 65 bytes"}},
		{"uri", Manifest{SequenceNumber: 1, Components: []Component{{Package: "main", Version: v(16), Hash: h64, Size: 1, URI: "acme/fleet-77/.u/c/main@" + v(16)}}}, LintURILength,
			[]string{"uri acme/fleet-77/.u/c/main@1111111111111111 of main is 40 characters: the Golioth device SDK's default buffer holds 39"}},
	}
	for _, tt := range tests {
		got := Lint(&tt.m)
		if codes(got) != tt.codes {
			t.Errorf("%s: findings %q, want codes %q", tt.name, got, tt.codes)
			continue
		}
		var text []string
		for _, f := range got {
			text = append(text, f.String())
		}
		joined := strings.Join(text, "\n")
		for _, w := range tt.want {
			if !strings.Contains(joined, w) {
				t.Errorf("%s: findings %q lack %q", tt.name, joined, w)
			}
		}
	}
}

// TestLintReads: the sequence finding names, per encoding, the value a
// device will read.
func TestLintReads(t *testing.T) {
	for seq, want := range map[int64][2]string{
		2147483648: {"-2147483648", "2147483647"},
		3000000000: {"-1294967296", "2147483647"},
		4294967297: {"1", "2147483647"},
	} {
		f := Lint(&Manifest{SequenceNumber: seq, Components: []Component{lintComp("main", "1.0.0")}})
		if len(f) != 1 || f[0].Reads["cbor"] != want[0] || f[0].Reads["json"] != want[1] || f[0].Package != "" {
			t.Errorf("sequence %d: %+v, want cbor %s json %s", seq, f, want[0], want[1])
		}
	}
}

// TestReportSize checks ReportSize against the reports the Golioth SDK's
// own encoder produced (report/testdata/sdk-reports.tsv), and the
// report buffer's limit of 45 characters.
func TestReportSize(t *testing.T) {
	f, err := os.Open("../report/testdata/sdk-reports.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	n := 0
	for sc.Scan() {
		col := strings.Split(sc.Text(), "\t")
		dash := func(s string) string { return strings.TrimPrefix(s, "-") }
		payload, err := hex.DecodeString(col[6])
		if err != nil {
			t.Fatal(err)
		}
		if got := ReportSize(col[2], dash(col[3]), dash(col[4])); got != len(payload) {
			t.Errorf("%s: ReportSize = %d, the SDK encoded %d bytes", sc.Text(), got, len(payload))
		}
		n++
	}
	if n < 10 {
		t.Fatalf("read %d vectors", n)
	}
	for _, c := range []struct{ pkg, cur, tgt int }{{13, 16, 16}, {15, 15, 15}, {23, 11, 11}, {10, 11, 24}} {
		s := ReportSize(strings.Repeat("p", c.pkg), strings.Repeat("1", c.cur), strings.Repeat("2", c.tgt))
		if c.pkg+c.cur+c.tgt == SDKReportChars && s != SDKReportBuffer && c.tgt < 24 {
			t.Errorf("%v: %d bytes, want exactly %d", c, s, SDKReportBuffer)
		}
		if c.tgt >= 24 && s <= SDKReportBuffer {
			t.Errorf("%v: %d bytes fit, but a 24-character text takes two bytes of length", c, s)
		}
	}
}

func TestCheckStrict(t *testing.T) {
	findings := Lint(&Manifest{SequenceNumber: 3000000000, Components: []Component{lintComp("a", "1"), lintComp("b", "1")}})
	if err := CheckStrict(findings, false); err != nil {
		t.Errorf("not strict: %v", err)
	}
	if err := CheckStrict(nil, true); err != nil {
		t.Errorf("strict without findings: %v", err)
	}
	err := CheckStrict(findings, true)
	var le *LintError
	if !errors.As(err, &le) || len(le.Findings) != 2 || errors.Is(err, ErrVerification) {
		t.Fatalf("strict = %v", err)
	}
	msg := err.Error()
	for _, w := range []string{"strict mode refuses a release with 2 device-compatibility findings", LintComponents + ": the release has 2 components", LintSequence + ": sequenceNumber 3000000000"} {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q lacks %q", msg, w)
		}
	}
	if !strings.Contains(le.Hint(), "--strict") {
		t.Errorf("hint %q", le.Hint())
	}
}
