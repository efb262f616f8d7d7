package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/rollout"
)

func newRolloutAbortCommand(sys *System) *cli.Command {
	opts := &listOptions{} // the connection and -o, as a list command's
	return &cli.Command{
		Name:      "abort",
		Usage:     "end the rollout in progress where it stands",
		UsageText: "otactl rollout abort [connection flags] [-o json]",
		Description: `Clears the lock of the rollout whose state the broker retains and, a
second later, marks it aborted: a 'rollout start' still running on it
stops before its next publish, state write or lock renewal (within a
third of its --lock-lease), and running it again is refused; a stage's
publish already under way still ends (docs/rollouts.md). Nothing is
published to devices: what they were sent stays (undo it with 'otactl
release rollback'). Prints the final state; with -o json as one JSON
object.

Example:
   $ otactl rollout abort
   $ otactl release rollback --to 1767225600 --sign release-key`,
		Flags: opts.flags(),
		Action: runWithoutArgs("rollout abort", "", func(ctx context.Context) error {
			return rolloutAbortRun(ctx, sys, opts)
		}),
	}
}

func rolloutAbortRun(ctx context.Context, sys *System, opts *listOptions) error {
	return withRolloutBroker(ctx, sys, &opts.Conn, func(b rollout.Broker) error {
		st, err := rollout.Abort(ctx, b, rolloutOwner(sys), sys.Now, rollout.DefaultSettle)
		switch {
		case err != nil:
			return err
		case opts.Output == "json":
			return writeJSON(sys.Stdout, "rollout-abort", stateDocument(st))
		}
		for _, l := range st.Lines() {
			fmt.Fprintln(sys.Stdout, l)
		}
		return nil
	})
}
