package commands

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/rollout"
	"github.com/otactl/otactl/upload"
)

// The wiring that rollout start and rollout resume share: the flags of a
// running rollout, the engine (package rollout) on a connection, and the
// rendering of its events.

// rolloutReleaseOptions are what rollout start and resume share: the
// release, as release publish takes it, and the run's flags.
type rolloutReleaseOptions struct {
	releasePublishOptions
	Run rolloutRunOptions
}

// rolloutRunOptions are the flags of a run of the rollout engine.
type rolloutRunOptions struct {
	Sign         cli.StringSlice
	SignerPubkey string
	Timeout      time.Duration
	Stale        time.Duration
	Lease        time.Duration
	Retrying     bool
}

// flags are the run's flags, the release's of rel (--artifacts, --pubkey,
// --threshold, --strict), -o and the connection flags.
func (o *rolloutRunOptions) flags(rel *releasePublishOptions) []cli.Flag {
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "sign", Usage: "sign a restore of the previous release with `KEYREF`: a keyring NAME, file:PATH or env:VAR (repeatable; needed by --on-failure halt|rollback of a signed release)", Destination: &o.Sign},
		signerPubkeyFlag(&o.SignerPubkey),
		&cli.DurationFlag{Name: "timeout", Usage: "the whole rollout's deadline: give up after `DURATION` (exit 5)", Value: 2 * time.Hour, Destination: &o.Timeout},
		&cli.DurationFlag{Name: "stale", Usage: "a pending device silent for `DURATION` is shown as stale", Value: fleet.DefaultStale, Destination: &o.Stale},
		&cli.DurationFlag{Name: "lock-lease", Usage: "the rollout lock's lease: a run that dies holds it this long (renewed every third of it)", Value: rollout.DefaultLease, Destination: &o.Lease},
		&cli.BoolFlag{Name: "retrying-as-pending", Usage: "count a device awaiting a retry of the version (reason 11) as pending, not failed", Destination: &o.Retrying},
		&cli.StringFlag{Name: "artifacts", Usage: "folder holding the component files", Destination: &rel.ArtifactsDir},
		&cli.StringSliceFlag{Name: "pubkey", Aliases: []string{"p"}, Usage: "trusted public key that must have signed: a PEM `FILE` or keyring NAME (repeatable; default: the profile's)", Destination: &rel.Pubkeys},
		&cli.IntFlag{Name: "threshold", Usage: "valid signatures needed from distinct keys (default 1 with a key)", Destination: &rel.Threshold},
		strictFlag(&rel.Strict),
		outputFlag(&rel.Output),
	}
	return append(flags, append(waitConnectFlags(&rel.Conn), verifyBrokerFlag(&rel.Conn))...)
}

// request fills what the run options decide in req.
func (o *rolloutRunOptions) request(sys *System, cn *connection, req *rollout.Request) error {
	if o.Timeout <= 0 || o.Stale <= 0 || o.Lease <= 0 {
		return usageErrorf("--timeout, --stale and --lock-lease must be positive")
	}
	var err error
	signing := signingOptions{Flag: "--sign", Refs: o.Sign.Value(), SignerPubkey: o.SignerPubkey}
	if req.Signers, err = signing.resolve(sys, cn.Profile); err != nil {
		return err
	}
	// A restore is held to the profile's policy, as release rollback's.
	if req.Trust, err = trustPolicy(sys, cn, nil, 0, nil); err != nil {
		return err
	}
	req.Gate.RetryingAsPending = o.Retrying
	req.Deadline = time.Now().Add(o.Timeout)
	req.Owner = rolloutOwner(sys)
	req.Lease, req.Settle = o.Lease, rollout.DefaultSettle
	return nil
}

// runRollout runs req on the connection conn, and every other broker
// endpoint (--verify-broker), with the publish core and a judge of the
// fleet, rendering each event; it returns the engine's error.
func runRollout(ctx context.Context, sys *System, conn *connectOptions, ro *rolloutRunOptions, format string, req rollout.Request) error {
	return withRolloutRunner(ctx, sys, conn, ro, format, func(r *rollout.Runner) error {
		_, err := r.Run(ctx, req)
		return err
	})
}

// withRolloutRunner connects with conn and to every other broker
// endpoint, and runs work with the engine on them.
func withRolloutRunner(ctx context.Context, sys *System, conn *connectOptions, ro *rolloutRunOptions, format string, work func(*rollout.Runner) error) error {
	return conn.withEndpoints(ctx, sys, func(client *upload.Client, eps []publish.Endpoint) error {
		// A failed write of an event does not stop the rollout (a stage
		// half published because a log filled up is worse than a lost
		// log): the command fails with it at the end.
		out := &streamOut{}
		return out.result(work(newRolloutRunner(sys, client, eps, ro, format, out)))
	})
}

// withRolloutBroker connects with conn and runs work on the broker.
func withRolloutBroker(ctx context.Context, sys *System, conn *connectOptions, work func(rollout.Broker) error) error {
	return conn.withClient(ctx, sys, func(client *upload.Client) error { return work(publish.FromClient(client)) })
}

// newRolloutRunner is the engine on client and the other endpoints eps:
// the publish core, quiet (the engine's events say what it did), and a
// judge of the fleet; out, when not nil, takes the writes of its events.
func newRolloutRunner(sys *System, client *upload.Client, eps []publish.Endpoint, ro *rolloutRunOptions, format string, out *streamOut) *rollout.Runner {
	p := newPublisher(sys, client, true)
	p.Endpoints = eps
	return &rollout.Runner{
		Broker:    publish.FromClient(client),
		Publisher: p,
		Endpoints: eps,
		Judge:     &rollout.FleetJudge{Client: client, Stale: ro.Stale, Now: sys.Now, Warnings: sys.Stderr},
		Now:       sys.Now,
		Observe:   rolloutRenderer(sys, format, out),
	}
}

// rolloutRenderer renders the engine's events one at a time (see
// renderRolloutEvent), and in GitHub Actions a group per stage, an error
// annotation per failed gate and device, and a step summary at the end;
// a line in place on a terminal is ended first.
func rolloutRenderer(sys *System, format string, out *streamOut) rollout.Observer {
	inPlace := false
	gh := output.NewGitHub(sys.Getenv, sys.Stderr)
	var title string
	var rows [][]string
	return func(e rollout.Event) {
		if inPlace && e.Kind != rollout.EventGate {
			fmt.Fprint(sys.Stderr, "\r\x1b[K")
			inPlace = false
		}
		inPlace = renderRolloutEvent(sys, format, e, out) || inPlace
		if gh == nil {
			return
		}
		if e.Gate != nil && e.Kind != rollout.EventGate {
			rows = append(rows, []string{fmt.Sprintf("%d/%d", e.Stage, e.Stages), e.Step, e.Kind, e.Gate.String()})
		}
		switch e.Kind {
		case rollout.EventStarted, rollout.EventResumed:
			title = e.Text()
		case rollout.EventStageStarted:
			gh.Group(fmt.Sprintf("stage %d/%d %s", e.Stage, e.Stages, e.Step))
		case rollout.EventGateFailed:
			for i, f := range e.Failures {
				if i < 9 {
					gh.Error(f.Device, f.Reason)
				}
			}
			gh.Error(fmt.Sprintf("rollout stage %d/%d %s failed", e.Stage, e.Stages, e.Step), e.Gate.String())
		case rollout.EventTimeout:
			gh.Error("rollout timed out", e.Text())
			fallthrough
		case rollout.EventDone, rollout.EventPaused, rollout.EventRestored:
			gh.EndGroup()
			table := output.MarkdownTable([]string{"stage", "step", "event", "gate"}, rows)
			_ = gh.Summary(fmt.Sprintf("### %s\n\n%s\n%s\n", title, table, e.Text()))
		}
	}
}

// renderRolloutEvent renders one event: with -o json a line of JSON on
// standard output; else a line on standard output for each step, and the
// current gate on standard error, in place on a terminal (it then
// returns true). A write to standard output that fails goes to out.
func renderRolloutEvent(sys *System, format string, e rollout.Event, out *streamOut) (inPlace bool) {
	switch {
	case format == "json":
		e.Time = output.Time(e.Time)
		out.check(writeJSON(sys.Stdout, "rollout-event", e))
	case e.Kind == rollout.EventGate && sys.StderrTTY:
		fmt.Fprintf(sys.Stderr, "\r\x1b[K%s", e.Text())
		return true
	case e.Kind == rollout.EventGate:
		fmt.Fprintln(sys.Stderr, e.Text())
	default:
		_, err := fmt.Fprintln(sys.Stdout, e.Text())
		out.check(err)
	}
	return false
}

// rolloutOwner names who runs a rollout: the CI's actor and run, else
// user@host.
func rolloutOwner(sys *System) string {
	env := sys.Getenv
	switch {
	case env("GITHUB_ACTIONS") == "true":
		return fmt.Sprintf("%s (github %s run %s)", env("GITHUB_ACTOR"), env("GITHUB_REPOSITORY"), env("GITHUB_RUN_ID"))
	case env("GITLAB_CI") == "true":
		return fmt.Sprintf("%s (gitlab %s pipeline %s)", env("GITLAB_USER_LOGIN"), env("CI_PROJECT_PATH"), env("CI_PIPELINE_ID"))
	}
	name := cmp.Or(env("USER"), env("LOGNAME"))
	if u, err := user.Current(); name == "" && err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s", cmp.Or(name, "unknown"), cmp.Or(host, "unknown"))
}

// stateDocument is a copy of a rollout's state as JSON documents print
// it: its times to the second (docs/json.md).
func stateDocument(st *rollout.State) *rollout.State {
	if st == nil {
		return nil
	}
	c := *st
	c.StartedAt, c.UpdatedAt = output.Time(c.StartedAt), output.Time(c.UpdatedAt)
	c.Stages = make([]rollout.StageState, len(st.Stages))
	for i, s := range st.Stages {
		s.Started, s.Ended = output.Time(s.Started), output.Time(s.Ended)
		c.Stages[i] = s
	}
	return &c
}
