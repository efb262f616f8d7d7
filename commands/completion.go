package commands

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/completions"
	"github.com/otactl/otactl/profile"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

func newCompletionCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh, fish, powershell)",
		UsageText: "otactl completion bash|zsh|fish|powershell",
		Description: `Completes commands, flags, flag values and the names of keys in the
keyring for --sign, --key, --pubkey and key rotate's key flags.

Install:
   bash:       otactl completion bash | sudo tee /etc/bash_completion.d/otactl >/dev/null
               (or in ~/.bashrc: source <(otactl completion bash))
   zsh:        otactl completion zsh > "${fpath[1]}/_otactl"
   fish:       otactl completion fish > ~/.config/fish/completions/otactl.fish
   powershell: otactl completion powershell | Out-String | Invoke-Expression  (in $PROFILE)

Example:
   $ source <(otactl completion bash)
   $ otactl release create --sign <TAB>
   env:  file:  release-key`,
		Action: runWithArgs(1, "completion", "expected one shell: "+strings.Join(completions.Shells, ", "), "", func(_ context.Context, args []string) error {
			script, err := completions.Script(args[0])
			if err != nil {
				return usageErrorf("completion: %v", err)
			}
			_, err = sys.Stdout.Write(script)
			return err
		}),
	}
}

// newCompleteCommand is the hidden command the completion scripts call with
// the words typed so far.
func newCompleteCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:            "__complete",
		Hidden:          true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			words := c.Args().Slice()
			for _, cand := range completions.Complete(c.App.Commands, c.App.Flags, words, completionValues(c.Context, sys), completionArgs(sys)) {
				fmt.Fprintln(sys.Stdout, cand)
			}
			return nil
		},
	}
}

// fixed is a completer of fixed values with their descriptions.
func fixed(pairs ...string) func(string) []string {
	return func(string) []string {
		var out []string
		for i := 0; i+1 < len(pairs); i += 2 {
			out = append(out, completions.Described(pairs[i], pairs[i+1]))
		}
		return out
	}
}

// completionValues completes flag values. Nothing here may print: an error
// gives no candidates.
func completionValues(ctx context.Context, sys *System) completions.Values {
	states := []string{}
	for s := report.Idle; s <= report.Updated; s++ {
		states = append(states, s.String(), "state "+strconv.Itoa(int(s)))
	}
	return completions.Values{
		"sign":               func(cur string) []string { return keyRefCandidates(sys, cur) },
		"key":                func(cur string) []string { return keyRefCandidates(sys, cur) },
		"pubkey":             func(string) []string { return append([]string{completions.FilesDirective}, keyNames(sys)...) },
		"profile":            func(string) []string { return profileNames(sys) },
		"signer-pubkey":      func(string) []string { return append([]string{completions.FilesDirective}, keyNames(sys)...) },
		"root-key":           func(cur string) []string { return keyRefCandidates(sys, cur) },
		"release-key":        func(string) []string { return append([]string{completions.FilesDirective}, keyNames(sys)...) },
		"root-pubkey":        func(string) []string { return append([]string{completions.FilesDirective}, keyNames(sys)...) },
		"signature-encoding": fixed("binary", "as openssl writes it", "base64", "base64 of it", "hex", "hex of it"),
		"alg":                fixed("ed25519", "Ed25519 (default)", "ecdsa-p256", "ECDSA on P-256"),
		"format":             fixed("pem", "PEM public key", "der", "DER public key", "c", "C array for device firmware"),
		"output":             fixed("text", "for people", "json", "JSON only, for scripts"),
		"encoding":           fixed("json", "the seed's format, SDK up to v0.7.0", "cbor", "the current Golioth firmware SDK"),
		"build-number":       fixed("drop", "1.2.3+4 gives 1.2.3 (default)", "dot", "1.2.3+4 gives 1.2.3.4"),
		"state":              fixed(states...),
		"cohort":             func(string) []string { return brokerNames(ctx, sys, "cohort") },
		"device":             func(string) []string { return brokerNames(ctx, sys, "device") },
	}
}

// completionArgs completes commands' arguments.
func completionArgs(sys *System) completions.Args {
	keys := func(string) []string { return keyNames(sys) }
	profiles := func(string) []string { return profileNames(sys) }
	settings := func(string) []string { return profile.Keys }
	return completions.Args{
		"key export":    func(cur string) []string { return keyRefCandidates(sys, cur) },
		"key delete":    keys,
		"config use":    profiles,
		"config delete": profiles,
		"config get":    settings,
		"config set":    settings,
		"config unset":  settings,
		"completion":    func(string) []string { return completions.Shells },
	}
}

// keyRefCandidates completes a key reference: keyring names, file: with
// file names after it, env: with the environment's variable names.
func keyRefCandidates(sys *System, cur string) []string {
	switch {
	case strings.HasPrefix(cur, "file:"):
		return []string{completions.FilesAfter("file:")}
	case strings.HasPrefix(cur, "env:"):
		var out []string
		for _, kv := range os.Environ() {
			if name, _, ok := strings.Cut(kv, "="); ok && name != "" {
				out = append(out, "env:"+name)
			}
		}
		sort.Strings(out)
		return out
	}
	return append([]string{
		completions.Described("file:", "a PEM file"),
		completions.Described("env:", "an environment variable (env: alone: OTACTL_SIGNING_KEY)"),
		completions.Described("exec:", "an external signer program (with --signer-pubkey)"),
	}, keyNames(sys)...)
}

// keyNames lists keyring key names; a locked or missing keyring gives none,
// since completion must never print errors into the user's command line.
func keyNames(sys *System) []string {
	infos, err := sys.keyStore().List()
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(infos))
	for _, in := range infos {
		names = append(names, completions.Described(in.Name, "keyring key, "+in.Alg))
	}
	return names
}

// profileNames lists the config file's profiles.
func profileNames(sys *System) []string {
	names := []string{"default"} // always there, settings or not
	if _, f, err := profile.LoadFile(sys.Getenv); err == nil {
		for _, n := range f.Names() {
			if n != "default" {
				names = append(names, n)
			}
		}
	}
	return names
}

// completionWait bounds how long completion waits for the broker.
const completionWait = 2 * time.Second

// brokerNames lists the cohorts (kind "cohort") or devices the broker
// knows from its retained messages, when a broker is configured (by
// OTACTL_BROKER or the profile): within completionWait, silently.
func brokerNames(ctx context.Context, sys *System, kind string) []string {
	quiet := *sys
	quiet.Stdin, quiet.Stderr = strings.NewReader(""), io.Discard
	o := &connectOptions{}
	cn, err := o.resolve(&quiet)
	if err != nil || (sys.Getenv("OTACTL_BROKER") == "" && (cn.Profile == nil || cn.Profile.Broker == "")) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, completionWait)
	defer cancel()
	seen := map[string]bool{}
	_ = o.withClient(ctx, &quiet, func(client *upload.Client) error {
		t := client.Topics()
		filters := []string{t.CohortsFilter()}
		if kind == "device" {
			filters = []string{t.DevicesFilter(), t.ReportsFilter()}
		}
		return client.ReadRetainedEach(ctx, filters, func(topic string, _ []byte) {
			if d, ok := t.ParseDesired(topic); ok && string(d.Kind) == kind {
				seen[d.Name] = true
			} else if device, _, ok := t.ParseReport(topic); ok && kind == "device" {
				seen[device] = true
			}
		})
	})
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
