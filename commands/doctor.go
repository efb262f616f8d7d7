package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/doctor"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/profile"
)

type doctorOptions struct {
	Conn               connectOptions
	Need               string
	PropagationTimeout time.Duration
	Output             string
}

func newDoctorCommand(sys *System) *cli.Command {
	opts := &doctorOptions{}
	flags := append(connectFlags(&opts.Conn),
		verifyBrokerFlag(&opts.Conn),
		&cli.StringFlag{Name: "need", Usage: "the largest retained message otactl must publish there (the largest artifact): `SIZE` such as 256k or 16M; fail below it", Destination: &opts.Need},
		&cli.DurationFlag{Name: "propagation-timeout", Usage: "how long a retained message published on the broker may take to be served by each --verify-broker", Value: doctor.DefaultPropagationTimeout, Destination: &opts.PropagationTimeout},
		outputFlag(&opts.Output))
	return &cli.Command{
		Name:      "doctor",
		Usage:     "check that a broker (and every endpoint devices use) has what otactl needs",
		UsageText: "otactl doctor [--verify-broker URL]... [--need SIZE] [connection flags] [-o json]",
		Description: `Checks the broker, then each other endpoint (--verify-broker,
OTACTL_VERIFY_BROKERS or the profile's verify-brokers), and prints one line per
check: connect (and log in); topics delivered unchanged (no '.' made '/');
retained messages kept; retained messages delivered to wildcard
subscriptions; the largest retained message kept (tried up to --need, or
1 MiB: found by bisection, as brokers drop larger messages silently); the
retained-message expiry the broker tells in $SYS (else "unknown", not a
failure); and, with --verify-broker, how long a retained message published
on the broker takes to be served by each other endpoint. Every probe
message goes under P.u/doctor/NONCE/ and is cleared afterwards.

Exit 1 when something otactl needs is missing (any check but expiry
failed), else 0. See docs/brokers.md.

Example:
   $ otactl doctor --broker mqtt://central:1883 --verify-broker mqtt://edge-1:1883 --need 16M
   $ otactl doctor -o json | jq '.checks[] | select(.ok | not)'`,
		Flags: flags,
		Action: runWithoutArgs("doctor", "", func(ctx context.Context) error {
			return doctorRun(ctx, sys, opts)
		}),
	}
}

func doctorRun(ctx context.Context, sys *System, opts *doctorOptions) error {
	var need int64
	if opts.Need != "" {
		n, err := profile.ParseSize(opts.Need)
		if err != nil || n <= 0 {
			return usageErrorf("--need %q: give a size such as 256k or 16M", opts.Need)
		}
		need = n
	}
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	if err := opts.Conn.password(sys, cn); err != nil {
		return err
	}
	cn.Options.Progress = nil // the size probes are not the user's uploads
	rep, err := doctor.Run(ctx, doctor.Options{
		Connect:            cn.Options,
		Endpoints:          cn.VerifyBrokers,
		Need:               need,
		PropagationTimeout: opts.PropagationTimeout,
	})
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		err = writeJSON(sys.Stdout, "doctor", rep)
	} else {
		err = writeDoctorReport(sys, rep)
	}
	if err != nil {
		return err
	}
	if failed := rep.Failed(); len(failed) > 0 {
		names := make([]string, len(failed))
		for i, c := range failed {
			names[i] = c.Name + " on " + c.Endpoint
		}
		return withHint(fmt.Errorf("doctor: %s failed: %s", text.Plural(len(failed), "check"), strings.Join(names, ", ")),
			"see docs/brokers.md for what each broker needs")
	}
	return nil
}

// writeDoctorReport prints one line per check, its hint below it.
func writeDoctorReport(sys *System, rep doctor.Report) error {
	for _, c := range rep.Checks {
		status := "ok"
		switch {
		case !c.OK:
			status = "FAIL"
		case c.Unknown:
			status = "?"
		}
		if _, err := fmt.Fprintf(sys.Stdout, "%-4s %-11s %s  %s\n", status, c.Name, c.Endpoint, c.Detail); err != nil {
			return err
		}
		if c.Hint != "" {
			fmt.Fprintf(sys.Stdout, "     hint: %s\n", c.Hint)
		}
	}
	return nil
}
