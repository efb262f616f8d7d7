package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/report"
)

// The device SDK's own encoding, from shared/vectors/sdk-reports.tsv: the
// reports benchtool fill publishes must be byte for byte what the SDK sends.
func TestSDKCBORMatchesVectors(t *testing.T) {
	tests := []struct {
		state, reason   int
		version, target string
		hex             string
	}{
		{0, 0, "1.0.0", "", "bf61730061720063706b67646d61696e617665312e302e30ff"},
		{1, 0, "1.0.0", "1.1.0", "bf61730161720063706b67646d61696e617665312e302e30617465312e312e30ff"},
		{1, 5, "1.0.0", "1.1.0", "bf61730161720563706b67646d61696e617665312e302e30617465312e312e30ff"},
		{0, 11, "1.0.0", "1.1.0", "bf61730061720b63706b67646d61696e617665312e302e30617465312e312e30ff"},
	}
	for _, tt := range tests {
		got := hex.EncodeToString(sdkCBOR(tt.state, tt.reason, "main", tt.version, tt.target))
		if got != tt.hex {
			t.Errorf("sdkCBOR(%d, %d, %q, %q) = %s, want %s", tt.state, tt.reason, tt.version, tt.target, got, tt.hex)
		}
	}
}

// Every filled report decodes to the state the benchmark's check expects.
func TestFillReportsDecode(t *testing.T) {
	for i := range 40 {
		r, err := report.Decode(fillReport(i))
		if err != nil {
			t.Fatalf("report %d (%q): %v", i, fillReport(i), err)
		}
		want := report.Report{Package: "main", State: report.Idle, Version: "1.1.0"}
		switch i % 10 {
		case 0:
			want = report.Report{Package: "main", State: report.Downloading, Reason: report.ReasonIntegrityCheckFailed, Version: "1.0.0", Target: "1.1.0"}
		case 1, 2:
			want = report.Report{Package: "main", State: report.Downloading, Version: "1.0.0", Target: "1.1.0"}
		}
		if r != want {
			t.Errorf("report %d (%q) decodes to %+v, want %+v", i, fillReport(i), r, want)
		}
	}
}

func TestParseTimeV(t *testing.T) {
	p := filepath.Join(t.TempDir(), "time")
	text := "\tCommand being timed: \"openssl dgst -sha256 f\"\n\tUser time (seconds): 0.85\n\tMaximum resident set size (kbytes): 6016\n\tExit status: 0\n"
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if kib, err := parseTimeV(p); err != nil || kib != 6016 {
		t.Errorf("parseTimeV = %d, %v; want 6016", kib, err)
	}
	if err := os.WriteFile(p, []byte("Command terminated by signal 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := parseTimeV(p); err == nil {
		t.Error("parseTimeV of a report without the line: no error")
	}
}

func TestMedian(t *testing.T) {
	s := time.Second
	if got := median([]time.Duration{3 * s, 1 * s, 2 * s}); got != 2*s {
		t.Errorf("median of 3,1,2 = %v", got)
	}
	if got := median([]time.Duration{4 * s, 1 * s, 2 * s, 3 * s}); got != 2500*time.Millisecond {
		t.Errorf("median of 4,1,2,3 = %v", got)
	}
}

// TestSameFile: the read-back check of the upload benchmarks passes on
// equal bytes and names both sizes and hashes otherwise.
func TestSameFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, c := write("a", "firmware"), write("b", "firmware"), write("c", "firmwarE!")
	if err := sameFile(a, b); err != nil {
		t.Errorf("equal files: %v", err)
	}
	err := sameFile(c, a)
	want := "read back 9 bytes sha256 "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), ", want 8 bytes sha256 ") {
		t.Errorf("different files: %v, want %q...", err, want)
	}
	if err := sameFile(filepath.Join(dir, "missing"), a); err == nil {
		t.Error("a missing file: no error")
	}
}

// fill and rawupload against a real mosquitto: the broker retains exactly
// the reports fill sent, and rawupload's message is the file's bytes.
func TestAgainstMosquitto(t *testing.T) {
	b := mosquitto.Start(t, mosquitto.Config{})
	if _, err := exec.LookPath("mosquitto_sub"); err != nil {
		if os.Getenv("OTACTL_TEST_REQUIRE_REAL") == "1" {
			t.Fatal("mosquitto_sub is required (OTACTL_TEST_REQUIRE_REAL=1) but missing")
		}
		t.Skip("mosquitto_sub is missing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host, port := "127.0.0.1", b.Addr()[len("127.0.0.1:"):]

	const n = 500
	if err := fill(ctx, b.Addr(), n, "t/"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "mosquitto_sub", "-h", host, "-p", port, "-t", "t/devices/+/.u/c/+", "-v", "-C", "501", "-W", "2").Output()
	if lines := bytes.Count(out, []byte("\n")); lines != n {
		t.Errorf("mosquitto retains %d reports under t/devices/+/.u/c/+, want %d (%v)", lines, n, err)
	}

	p := filepath.Join(t.TempDir(), "artifact.bin")
	if err := genFile(ctx, p, 3<<20+17); err != nil {
		t.Fatal(err)
	}
	if err := rawupload(ctx, b.Addr(), ".u/c/main@1.2.3", p); err != nil {
		t.Fatal(err)
	}
	got, err := exec.CommandContext(ctx, "mosquitto_sub", "-h", host, "-p", port, "-t", ".u/c/main@1.2.3", "-C", "1", "-N", "-W", "10").Output()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("retained %d bytes, want the file's %d", len(got), len(want))
	}
}
