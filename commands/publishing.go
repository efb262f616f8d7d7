package commands

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/upload"
)

// The wiring of the publish core (package publish) that the commands on
// releases and artifacts share: the trust policy of their flags, the
// publisher on a connection and the rendering of its events.

// trustOptions are --pubkey and --threshold of the commands that hold a
// manifest to the trust policy (release publish and current), and
// release publish's --root-pubkey.
type trustOptions struct {
	Pubkeys     cli.StringSlice
	Threshold   int
	RootPubkeys []string
}

// policy is the trust policy of these flags and the profile's settings.
func (o *trustOptions) policy(sys *System, cn *connection) (publish.TrustPolicy, error) {
	return trustPolicy(sys, cn, o.Pubkeys.Value(), o.Threshold, o.RootPubkeys)
}

// trustPolicy is the trust policy of a command: its --pubkey,
// --threshold and --root-pubkey flags, and the profile's settings, by
// publish.ResolveTrust.
func trustPolicy(sys *System, cn *connection, pubkeys []string, threshold int, roots []string) (publish.TrustPolicy, error) {
	return publish.ResolveTrust(publish.TrustSources{
		Pubkeys: pubkeys, Threshold: threshold, RootPubkeys: roots,
		Profile: cn.ProfileName, ProfilePubkeys: cn.Profile.Pubkeys, ProfileThreshold: cn.Profile.Threshold,
		ProfileRootPubkeys: cn.Profile.RootPubkeys,
		RequireSignatures:  cn.Profile.RequireSignatures,
	}, func(flag string, refs []string) ([]crypto.PublicKey, error) {
		// ResolveTrust takes the profile's keys only when the flag gives none.
		given := flag == "--pubkey" && len(pubkeys) > 0 || flag == "--root-pubkey" && len(roots) > 0
		return resolvePublicKeysFrom(sys, cn.Profile, flag, given, refs)
	})
}

// publishRelease runs a plan's broker steps on an open connection.
// Progress goes to stdout as it happens unless quiet (JSON output).
func publishRelease(ctx context.Context, sys *System, client *upload.Client, plan *publish.Plan, quiet bool) (*publish.Report, error) {
	return newPublisher(sys, client, quiet).Publish(ctx, plan)
}

// newPublisher is the core on client, rendering its events on sys.
func newPublisher(sys *System, client *upload.Client, quiet bool) *publish.Publisher {
	return &publish.Publisher{
		Broker:  publish.FromClient(client),
		URL:     client.Broker(),
		Now:     sys.Now,
		Observe: publishObserver(sys, quiet),
		Hooks: publish.Hooks{
			BeforeDesired: func(ctx context.Context) error { return testDelayBeforeDesired(ctx, sys) },
			BeforeEachDesired: func(topic string) {
				if testHookBeforeDesired != nil {
					testHookBeforeDesired(topic)
				}
			},
		},
	}
}

// publishWith connects with o's connection and to every other endpoint,
// and runs work with the core on them: progress goes to stdout as it
// happens, or with -o json (quiet) the result work returns is printed at
// the end as a JSON document of schema, and so is what a run that ends
// with exit 6 did (publish.PartialError's Result).
func (o *targetedOptions) publishWith(ctx context.Context, sys *System, schema string, work func(p *publish.Publisher, quiet bool) (any, error)) error {
	quiet := o.Output == "json"
	return o.Conn.withEndpoints(ctx, sys, func(client *upload.Client, eps []publish.Endpoint) error {
		p := newPublisher(sys, client, quiet)
		p.Endpoints = eps
		res, err := work(p, quiet)
		if !quiet {
			return err
		}
		return writePartialJSON(sys, schema, res, err)
	})
}

// writePartialJSON prints res as JSON (-o json) when err is nil, or, when
// err is a *publish.PartialError with a result or a
// *publish.UnpublishError, what the run did; and returns err.
func writePartialJSON(sys *System, schema string, res any, err error) error {
	var (
		partial *publish.PartialError
		unpub   *publish.UnpublishError
	)
	switch {
	case err == nil:
	case errors.As(err, &partial) && partial.Result != nil:
		res = partial.Result
	case errors.As(err, &unpub):
		res = unpub.Report
	default:
		return err
	}
	return withWriteError(err, writeJSON(sys.Stdout, schema, res))
}

// publishObserver renders the core's events: progress on stdout unless
// quiet, warnings on stderr, and a line before a large upload when stderr
// is not a terminal (a terminal has the progress bar).
func publishObserver(sys *System, quiet bool) publish.Observer {
	say := func(format string, args ...any) {
		if !quiet {
			fmt.Fprintf(sys.Stdout, format+"\n", args...)
		}
	}
	return func(e publish.Event) {
		switch e := e.(type) {
		case publish.Warning:
			fmt.Fprintf(sys.Stderr, "warning: %s\n", e.Message)
		case publish.ArtifactSending:
			if e.Size >= output.MinProgress && !sys.StderrTTY {
				fmt.Fprintf(sys.Stderr, "uploading %s (%s) to %s\n", e.Name, text.Bytes(e.Size), e.Topic)
			}
		case publish.ArtifactDone:
			r := e.Result
			say("artifact %s@%s: %s (%d bytes) %s%s", r.Package, r.Version, r.Action, r.Size, r.Topic, blocksNote(r))
		case publish.DevicesMatched:
			say("devices %s: %d of %d reporting devices", e.Glob, e.Matched, e.Known)
		case publish.PercentSelected:
			say("percent %g: %d of %d reporting devices", e.Percent, e.Chosen, e.Known)
		case publish.TargetDone:
			say("%s", targetLine(e))
		case publish.EndpointDone:
			say("endpoint %s: %s confirmed", e.URL, e.Step)
		case publish.CatalogDone:
			say("catalog: %s %s", e.Result.Action, e.Result.Topic)
		case publish.TargetCleared:
			say("%s", clearedLine(e))
		}
	}
}

func targetLine(e publish.TargetDone) string {
	r := e.Result
	var was, again string
	if r.Previous != 0 {
		was = fmt.Sprintf(", was %d", r.Previous)
	}
	if r.Restored {
		again = "; published again after a concurrent publish of a lower sequence replaced it"
	}
	return fmt.Sprintf("target %s: %s %s (sequence %d%s)%s", e.Target, r.Action, r.Topic, e.Sequence, was, again)
}

// testDelayEnv names an environment variable read by tests only: a
// duration that a publish sleeps between its anti-rollback check and its
// first desired publish, to widen the window racing publishers meet in.
const testDelayEnv = "OTACTL_TEST_DELAY_BEFORE_DESIRED"

// testHookBeforeDesired, set by tests only, runs just before a desired
// manifest is published to topic.
var testHookBeforeDesired func(topic string)

// testDelayBeforeDesired sleeps as testDelayEnv says, if it is set.
func testDelayBeforeDesired(ctx context.Context, sys *System) error {
	v := sys.Getenv(testDelayEnv)
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%s: %w", testDelayEnv, err)
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
