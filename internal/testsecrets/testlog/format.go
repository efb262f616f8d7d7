package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/otactl/otactl/internal/testsecrets"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output and build-fail events
}

// formatter prints the events as a plain `go test` run would, and keeps
// everything each test printed for the secret scan.
type formatter struct {
	out     io.Writer
	pending map[string]*strings.Builder // a running test's output
	printed map[string]*strings.Builder // everything, by package and test
}

func newFormatter(out io.Writer) *formatter {
	return &formatter{out: out, pending: map[string]*strings.Builder{}, printed: map[string]*strings.Builder{}}
}

func (f *formatter) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not an event: go's own messages, such as a failed build.
			fmt.Fprintln(f.out, string(line))
			f.keep("(go test)", string(line)+"\n")
			continue
		}
		f.event(e)
	}
	return sc.Err()
}

func (f *formatter) event(e event) {
	pkg := e.Package
	if pkg == "" {
		pkg = e.ImportPath
	}
	key := pkg + " " + e.Test
	switch e.Action {
	case "output", "build-output":
		f.keep(key, e.Output)
		if e.Test == "" {
			if e.Output != "PASS\n" && !strings.HasPrefix(e.Output, "testing: warning: no tests to run") {
				fmt.Fprint(f.out, e.Output)
			}
			return
		}
		if !strings.HasPrefix(strings.TrimSpace(e.Output), "=== ") {
			b := f.pending[key]
			if b == nil {
				b = &strings.Builder{}
				f.pending[key] = b
			}
			b.WriteString(e.Output)
		}
	case "fail":
		if b := f.pending[key]; b != nil && e.Test != "" {
			fmt.Fprint(f.out, b.String())
		}
		delete(f.pending, key)
	case "pass", "skip":
		delete(f.pending, key)
	}
}

// keep records output for the scan.
func (f *formatter) keep(key, output string) {
	b := f.printed[key]
	if b == nil {
		b = &strings.Builder{}
		f.printed[key] = b
	}
	b.WriteString(output)
}

// leak is a secret found in a test's output.
type leak struct {
	where string // package and test
	label string
}

// leaks looks for sc's secrets in everything each test printed.
func (f *formatter) leaks(sc *testsecrets.Scanner) []leak {
	var out []leak
	for where, b := range f.printed {
		for _, label := range sc.Find([]byte(b.String())) {
			out = append(out, leak{where: strings.TrimSpace(where), label: label})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].where != out[j].where {
			return out[i].where < out[j].where
		}
		return out[i].label < out[j].label
	})
	return out
}
