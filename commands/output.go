package commands

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/upload"
)

// outputFlag is the -o/--output flag of every command that prints data. It
// refuses a format other than text or json before the command runs.
func outputFlag(dest *string) cli.Flag {
	return &cli.StringFlag{
		Name:        "output",
		Aliases:     []string{"o"},
		Usage:       "output format: text or json",
		Value:       "text",
		Destination: dest,
		Action:      func(_ *cli.Context, format string) error { return checkOutput(format) },
	}
}

func checkOutput(format string) error {
	switch format {
	case "text", "json":
		return nil
	}
	return usageErrorf("unknown output format %q: use text or json", format)
}

// writeJSON writes v as a JSON document of the schema called schema
// (docs/json.md): one object, "schema" first.
func writeJSON(w io.Writer, schema string, v any) error { return output.Document(w, schema, v) }

// withWriteError is err, the command's own, with werr, a failed write of
// its output: the command's error and exit code come first (a failed
// gate is still exit 4 when its document could not be written), and the
// lost output is told after it.
func withWriteError(err, werr error) error {
	switch {
	case werr == nil:
		return err
	case err == nil:
		return werr
	}
	return errors.Join(err, werr)
}

// outputOptions are the options of a command whose only flag is -o.
type outputOptions struct {
	Output string
}

// listOptions are the options of the commands that list what the broker
// retains: the connection and -o.
type listOptions struct {
	Conn   connectOptions
	Output string
}

// flags are -o and the connection flags.
func (o *listOptions) flags() []cli.Flag {
	return append([]cli.Flag{outputFlag(&o.Output)}, connectFlags(&o.Conn)...)
}

// readList connects with o's settings and returns what read finds, with
// the topics of the connection (their prefix names what was read in the
// line a list prints when it is empty).
func readList[T any](ctx context.Context, sys *System, o *listOptions, read func(*upload.Client, protocol.Topics) ([]T, error)) ([]T, protocol.Topics, error) {
	var (
		topics protocol.Topics
		list   []T
	)
	err := o.Conn.withClient(ctx, sys, func(client *upload.Client) (err error) {
		topics = client.Topics()
		list, err = read(client, topics)
		return err
	})
	return list, topics, err
}

// listing is how a list command prints its items: with -o json one JSON
// document of schema Schema, the list (an empty one, never null) under
// Key; otherwise a table, or the line Empty on standard error when there
// is nothing to list.
type listing[T any] struct {
	Schema string
	Key    string
	Empty  string
	// Hidden: the items are read from a broker, whose access rules may
	// hide them (hiddenHint follows Empty).
	Hidden bool
	Header []string
	Row    func(T) []string
	// Item, when set, is an item as -o json prints it; else the item.
	Item func(T) any
	// Optional are the columns a table on a narrow terminal may leave
	// out, the first named first.
	Optional []string
}

func (l listing[T]) write(sys *System, format string, items []T) error {
	if format == "json" {
		if items == nil {
			items = []T{}
		}
		if l.Item == nil {
			return writeJSON(sys.Stdout, l.Schema, map[string]any{l.Key: items})
		}
		out := make([]any, len(items))
		for i, item := range items {
			out[i] = l.Item(item)
		}
		return writeJSON(sys.Stdout, l.Schema, map[string]any{l.Key: out})
	}
	if len(items) == 0 {
		fmt.Fprintln(sys.Stderr, l.Empty)
		if l.Hidden {
			fmt.Fprintln(sys.Stderr, hiddenHint)
		}
		return nil
	}
	t := output.Table{Header: l.Header, Optional: l.Optional, Width: tableWidth(sys)}
	for _, item := range items {
		t.Rows = append(t.Rows, l.Row(item))
	}
	return t.Write(sys.Stdout, sys.StdoutTTY)
}

// hiddenHint follows a listing or read that found nothing: a broker whose
// access rules deny a read may say nothing of it (mosquitto accepts the
// subscription and delivers nothing; docs/brokers.md).
const hiddenHint = "hint: or this user may not read it: mosquitto hides what its access rules deny (docs/brokers.md)"
