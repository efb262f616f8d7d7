package commands

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/upload"
)

// What reaches the whole fleet at once (release publish and unpublish to
// the fleet's topic, artifact delete) asks first on a terminal, as kubectl
// and gh do; --yes skips the question, and nothing asks when standard
// input is not a terminal, so that CI stays non-interactive.

// yesFlag is --yes (-y) of the commands that ask.
func yesFlag(yes *bool) cli.Flag {
	return &cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Destination: yes,
		Usage: "do not ask before acting on the whole fleet (nothing asks when standard input is not a terminal)"}
}

// errNotConfirmed is the answer no.
var errNotConfirmed = errors.New("not confirmed: nothing was sent")

// confirm asks question on standard error and reads the answer from
// standard input, when that is a terminal and yes is false: y or yes goes
// on, anything else is errNotConfirmed (exit 1).
func confirm(sys *System, yes bool, question string) error {
	if yes || !sys.StdinTTY {
		return nil
	}
	fmt.Fprintf(sys.Stderr, "%s [y/N] ", question)
	line, _ := bufio.NewReader(sys.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return withHint(errNotConfirmed, "--yes skips the question")
}

// fleetTopic is the fleet's desired topic among targets, or "" when none
// is the fleet.
func fleetTopic(targets []publish.Target) string {
	for _, t := range targets {
		if t.Kind == protocol.Fleet {
			return t.Topic
		}
	}
	return ""
}

// confirmFleet asks before a publish or unpublish that reaches the fleet's
// own topic on broker (not for a dry run).
func confirmFleet(sys *System, yes, dryRun bool, targets []publish.Target, what string, cn *connection) error {
	topic := fleetTopic(targets)
	if topic == "" || dryRun {
		return nil
	}
	return confirm(sys, yes, fmt.Sprintf("%s for the whole fleet (%s on %s)?", what, topic, brokerName(cn)))
}

// brokerName is the broker a connection goes to, as a question names it.
func brokerName(cn *connection) string {
	if cn.Options.Broker == "" {
		return upload.DefaultBroker
	}
	return cn.Options.Broker
}
