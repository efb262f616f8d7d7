package commands

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/simulator"
)

func simulateSummaryRun(sys *System, opts *outputOptions, files []string) error {
	if len(files) == 0 {
		files = []string{"-"}
	}
	var sums []simulator.Summary
	for _, path := range files {
		got, err := readSummaries(sys, path)
		if err != nil {
			return err
		}
		if len(got) == 0 {
			// A process whose summary is missing would be left out of
			// the sum without a word.
			return hint.Wrap(fmt.Errorf("simulate summary: no summary in %s", inputNames([]string{path})),
				"give what 'otactl simulate -o json' printed, whole: its last line, printed when it stops, is the summary (did that process stop before printing it?)")
		}
		sums = append(sums, got...)
	}
	sum, err := simulator.MergeSummaries(sums)
	if err != nil {
		return fmt.Errorf("simulate summary: %w", err)
	}
	if opts.Output == "json" {
		return writeSimSummaryJSON(sys.Stdout, sum)
	}
	procs := "processes"
	if sum.Processes == 1 {
		procs = "process"
	}
	fmt.Fprintf(sys.Stdout, "%d %s, %d devices\n", sum.Processes, procs, sum.Devices)
	writeSimFigures(sys.Stdout, "", sum)
	return nil
}

func newSimulateSummaryCommand(sys *System) *cli.Command {
	opts := &outputOptions{}
	return &cli.Command{
		Name:      "summary",
		Usage:     "sum up the summaries of several simulate processes (--shard I/N)",
		UsageText: "otactl simulate summary [-o json] [FILE]...",
		Description: `Reads the -o json streams of several 'otactl simulate' processes, from the
FILEs given, or standard input ('-' too), and prints the summary of the
whole fleet: devices, connections, reports and failures added up, the
longest ramp, and the report latency's percentiles from the processes'
histograms added up (exactly those of one process that ran every device).
Lines other than a summary (events, text) are skipped; the summary is the
last line each process prints when it stops (docs/fleet.md).

Example:
   $ otactl simulate --devices 30000 --shard 1/2 --for 10m -o json > shard1.jsonl &
   $ otactl simulate --devices 30000 --shard 2/2 --for 10m -o json > shard2.jsonl &
   $ wait; otactl simulate summary shard1.jsonl shard2.jsonl`,
		Flags: []cli.Flag{outputFlag(&opts.Output)},
		Action: func(c *cli.Context) error {
			return simulateSummaryRun(sys, opts, c.Args().Slice())
		},
	}
}

// readSummaries reads the summaries in the file at path ('-': standard
// input).
func readSummaries(sys *System, path string) ([]simulator.Summary, error) {
	if path == "-" {
		return simulator.ReadSummaries(sys.Stdin, "standard input")
	}
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return simulator.ReadSummaries(f, path)
}

// inputNames names the inputs read.
func inputNames(files []string) string {
	if len(files) == 1 && files[0] == "-" {
		return "standard input"
	}
	return strings.Join(files, ", ")
}

// writeSimSummaryJSON writes a summary as the last line of simulate -o
// json does.
func writeSimSummaryJSON(w io.Writer, sum simulator.Summary) error {
	return writeJSON(w, "simulate-summary", struct {
		Kind string `json:"kind"`
		simulator.Summary
	}{"summary", sum})
}

// writeSimFigures writes a summary's load figures in words, each line
// starting with prefix.
func writeSimFigures(w io.Writer, prefix string, sum simulator.Summary) {
	l := sum.ReportLatency
	fmt.Fprintf(w, "%s%d of %d devices connected in %.1fs (%.1f/s); %d connections made, %d failed\n",
		prefix, sum.Connected, sum.Devices, sum.RampSeconds, sum.ConnectRate, sum.Connections, sum.ConnectErrors)
	fmt.Fprintf(w, "%s%d reports acknowledged, %d failed; publish to PUBACK p50 %.1fms p90 %.1fms p99 %.1fms max %.1fms\n",
		prefix, sum.Reports, sum.ReportErrors, l.P50, l.P90, l.P99, l.Max)
	fmt.Fprintf(w, "%s%d failed update attempts, %d refused manifests, %d errors\n", prefix, sum.FailedAttempts, sum.Refused, sum.Errors)
}
