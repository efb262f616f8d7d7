package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/completions"
)

func newCompletionCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh, fish, powershell)",
		UsageText: "otactl completion bash|zsh|fish|powershell",
		Description: `Completes commands, flags, flag values and the names of keys in the
keyring for --sign, --key and --pubkey.

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
			values := completions.Values{
				"sign":               func() []string { return keyRefCandidates(sys) },
				"key":                func() []string { return keyRefCandidates(sys) },
				"pubkey":             func() []string { return append(keyNames(sys), completions.FilesDirective) },
				"signer-pubkey":      func() []string { return append(keyNames(sys), completions.FilesDirective) },
				"signature-encoding": func() []string { return []string{"binary", "base64", "hex"} },
				"alg":                func() []string { return []string{"ed25519", "ecdsa-p256"} },
				"format":             func() []string { return []string{"pem", "der", "c"} },
				"output":             func() []string { return []string{"text", "json"} },
				"encoding":           func() []string { return []string{"json", "cbor"} },
			}
			for _, cand := range completions.Complete(c.App.Commands, c.App.Flags, c.Args().Slice(), values) {
				fmt.Fprintln(sys.Stdout, cand)
			}
			return nil
		},
	}
}

func keyRefCandidates(sys *System) []string {
	return append([]string{"file:", "env:", "exec:"}, keyNames(sys)...)
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
		names = append(names, in.Name)
	}
	return names
}
