// Command testlog reads `go test -json` output on standard input, keeps all
// of it in a log file, prints what a plain `go test` would (the output of
// failed tests, and one line per package) and at the end looks for every
// secret the tests registered (testsecrets.FileEnv) in everything the
// tests printed: t.Log lines, broker logs and otactl's output alike. A leak
// is named by the secret's label and the test that printed it, and makes
// testlog exit 1. scripts/test-in-session runs the suite through it.
//
//	go test -json ./... | testlog -log FILE -secrets FILE
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/otactl/otactl/internal/testsecrets"
)

func main() {
	logPath := flag.String("log", "", "write the raw JSON output to `FILE`")
	secrets := flag.String("secrets", os.Getenv(testsecrets.FileEnv), "the secrets `FILE` the tests wrote")
	flag.Parse()
	var log io.Writer = io.Discard
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testlog:", err)
			os.Exit(1)
		}
		defer f.Close()
		log = f
	}
	os.Exit(run(os.Stdin, os.Stdout, log, *secrets))
}

// run formats the test events of in onto out, copies in to log, and
// returns 1 when the output holds a secret listed in secretsPath (or
// cannot be read), else 0. Test failures are go test's exit status to
// report, not run's.
func run(in io.Reader, out, log io.Writer, secretsPath string) int {
	f := newFormatter(out)
	if err := f.read(io.TeeReader(in, log)); err != nil {
		fmt.Fprintln(out, "testlog:", err)
		return 1
	}
	if secretsPath == "" {
		fmt.Fprintln(out, "testlog: no secrets file: output not scanned for secrets")
		return 0
	}
	sc, err := testsecrets.ReadFile(secretsPath)
	if err != nil {
		fmt.Fprintln(out, "testlog:", err)
		return 1
	}
	leaks := f.leaks(sc)
	for _, l := range leaks {
		fmt.Fprintf(out, "secret leak: %s printed %s\n", l.where, l.label)
	}
	if len(leaks) > 0 {
		fmt.Fprintf(out, "FAIL: the tests printed %d registered secret(s): find the label in the test that registered it\n", len(leaks))
		return 1
	}
	fmt.Fprintf(out, "no secret in the test output (%d strings looked for)\n", sc.Len())
	return 0
}
