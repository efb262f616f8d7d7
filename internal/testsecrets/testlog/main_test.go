package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// events renders test2json events, one per line.
func events(t *testing.T, evs ...event) string {
	t.Helper()
	var b strings.Builder
	for _, e := range evs {
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func secretsFile(t *testing.T, lines map[string]string) string {
	t.Helper()
	var b strings.Builder
	for label, secret := range lines {
		b.WriteString(label + "\t" + hex.EncodeToString([]byte(secret)) + "\n")
	}
	path := filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestScanFindsALeakInTLog is a deliberate leak: a secret in a t.Log line
// of a passing test is caught and named by its label only.
func TestScanFindsALeakInTLog(t *testing.T) {
	const secret = "MC4CAQAwBQYDK2VwBCIEIFmB/+mrcY3pTC5OgNQNtgpbMmR+1UYjYbnJAMpIedWH"
	in := events(t,
		event{Action: "run", Package: "p", Test: "TestA"},
		event{Action: "output", Package: "p", Test: "TestA", Output: "=== RUN   TestA\n"},
		event{Action: "output", Package: "p", Test: "TestA", Output: "    a_test.go:9: key " + secret[:30]},
		event{Action: "output", Package: "p", Test: "TestA", Output: secret[30:] + "\n"},
		event{Action: "pass", Package: "p", Test: "TestA"},
		event{Action: "output", Package: "p", Output: "ok  \tp\t0.1s\n"},
	)
	var out, log bytes.Buffer
	code := run(strings.NewReader(in), &out, &log, secretsFile(t, map[string]string{"ci signing key": secret}))
	if code != 1 {
		t.Errorf("exit %d, want 1\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "secret leak: p TestA printed ci signing key") {
		t.Errorf("the leak is not named:\n%s", out.String())
	}
	if strings.Contains(out.String(), secret[:20]) {
		t.Error("testlog printed the secret")
	}
	if log.String() != in {
		t.Error("the log is not the input")
	}
}

// TestFormatPrintsFailuresAndSummaries checks the console: a passing
// test's output is not shown, a failing one's is, package lines are.
func TestFormatPrintsFailuresAndSummaries(t *testing.T) {
	in := events(t,
		event{Action: "output", Package: "p", Test: "TestOK", Output: "=== RUN   TestOK\n"},
		event{Action: "output", Package: "p", Test: "TestOK", Output: "    quiet log line\n"},
		event{Action: "pass", Package: "p", Test: "TestOK"},
		event{Action: "output", Package: "p", Test: "TestBad", Output: "=== RUN   TestBad\n"},
		event{Action: "output", Package: "p", Test: "TestBad", Output: "    bad_test.go:3: exit 1, want 0\n"},
		event{Action: "output", Package: "p", Test: "TestBad", Output: "--- FAIL: TestBad (0.00s)\n"},
		event{Action: "fail", Package: "p", Test: "TestBad"},
		event{Action: "output", Package: "p", Output: "FAIL\n"},
		event{Action: "output", Package: "p", Output: "FAIL\tp\t0.2s\n"},
		event{Action: "fail", Package: "p"},
	) + "go: some message that is not JSON\n"
	var out bytes.Buffer
	if code := run(strings.NewReader(in), &out, &bytes.Buffer{}, secretsFile(t, map[string]string{"x": "a-secret-never-printed"})); code != 0 {
		t.Errorf("exit %d without a leak\n%s", code, out.String())
	}
	got := out.String()
	for _, want := range []string{"bad_test.go:3: exit 1, want 0", "--- FAIL: TestBad", "FAIL\tp\t0.2s", "go: some message that is not JSON", "no secret in the test output"} {
		if !strings.Contains(got, want) {
			t.Errorf("console lacks %q:\n%s", want, got)
		}
	}
	for _, not := range []string{"quiet log line", "=== RUN"} {
		if strings.Contains(got, not) {
			t.Errorf("console shows %q:\n%s", not, got)
		}
	}
}
