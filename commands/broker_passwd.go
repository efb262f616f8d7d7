package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/release"
)

type brokerPasswdOptions struct {
	Role          string
	Cohort        string
	Iterations    int
	PasswordStdin bool
	Users         string
}

func newBrokerPasswdCommand(sys *System) *cli.Command {
	opts := &brokerPasswdOptions{}
	return &cli.Command{
		Name:      "passwd",
		Usage:     "make a users-file entry: NAME HASH ROLE [COHORT]",
		UsageText: "otactl broker passwd [--role device|operator] [--cohort NAME] [--password-stdin] [--users FILE] NAME",
		Description: `Hashes a password (PBKDF2-HMAC-SHA256, random salt) and prints the users-file
line for NAME, or adds it to --users FILE (replacing NAME's line there).
A device's NAME is its device id, which must also be its MQTT client id.

The password is read from --password-stdin (first line), else from
OTACTL_PASSWORD, else asked for on the terminal. It is never a flag.

Example:
   $ printf '%s\n' "$DEVICE_TOKEN" | otactl broker passwd --password-stdin \
       --role device --cohort canary --users users.txt sensor-0042
   $ OTACTL_PASSWORD=... otactl broker passwd --role operator ops >> users.txt`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "role", Usage: "`ROLE`: device or operator", Value: string(broker.RoleDevice), Destination: &opts.Role},
			&cli.StringFlag{Name: "cohort", Usage: "the device's cohort `NAME`", Destination: &opts.Cohort},
			&cli.IntFlag{Name: "iterations", Usage: "PBKDF2 iterations", Value: broker.DefaultIterations, Destination: &opts.Iterations},
			&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from the first line of standard input", Destination: &opts.PasswordStdin},
			&cli.StringFlag{Name: "users", Usage: "add or replace the entry in users `FILE` instead of printing it", Destination: &opts.Users},
		},
		Action: runWithArgs(1, "broker passwd", "want one NAME", "otactl broker passwd --role device sensor-0042", func(_ context.Context, args []string) error {
			return brokerPasswdRun(sys, opts, args[0])
		}),
	}
}

func brokerPasswdRun(sys *System, opts *brokerPasswdOptions, name string) error {
	role := broker.Role(opts.Role)
	switch role {
	case broker.RoleDevice:
		if err := release.ValidateDeviceID(name); err != nil {
			return usageErrorf("broker passwd: %v", err)
		}
		if opts.Cohort != "" {
			if err := release.ValidateCohort(opts.Cohort); err != nil {
				return usageErrorf("broker passwd: %v", err)
			}
		}
	case broker.RoleOperator:
		if err := broker.ValidateClientID(name); err != nil || name == "" || strings.ContainsAny(name, " \t") {
			return usageErrorf("broker passwd: operator name %q: no spaces, '+', '#' or '/'", name)
		}
		if opts.Cohort != "" {
			return usageErrorf("broker passwd: --cohort is for devices")
		}
	default:
		return usageErrorf("broker passwd: --role %q: use device or operator", opts.Role)
	}
	password, err := readNewPassword(sys, opts.PasswordStdin)
	if err != nil {
		return err
	}
	hash, err := broker.HashPassword(password, opts.Iterations)
	if err != nil {
		return fmt.Errorf("broker passwd: %w", err)
	}
	line := broker.FormatUser(name, role, opts.Cohort, hash)
	if opts.Users == "" {
		_, err := fmt.Fprintln(sys.Stdout, line)
		return err
	}
	return replaceUserLine(opts.Users, name, line)
}

// readNewPassword reads the password for a users-file entry.
func readNewPassword(sys *System, fromStdin bool) ([]byte, error) {
	if fromStdin {
		line, err := readPasswordLine(sys.Stdin)
		return []byte(line), err
	}
	if p := sys.Getenv("OTACTL_PASSWORD"); p != "" {
		return []byte(p), nil
	}
	f, ok := sys.stdinFile()
	if !sys.StdinTTY || !ok {
		return nil, withHint(errors.New("no password given"), "pipe it with --password-stdin or set OTACTL_PASSWORD")
	}
	fmt.Fprint(sys.Stderr, "password: ")
	p1, err := sys.readTerminalPassword(f)
	fmt.Fprintln(sys.Stderr)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(sys.Stderr, "again: ")
	p2, err := sys.readTerminalPassword(f)
	fmt.Fprintln(sys.Stderr)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if string(p1) != string(p2) {
		return nil, errors.New("the passwords differ")
	}
	if len(p1) == 0 {
		return nil, errors.New("the password is empty")
	}
	return p1, nil
}

// replaceUserLine writes line into the users file at path in place of
// name's line, or at its end; the file is created if missing.
func replaceUserLine(path, name, line string) error {
	file := outFile{Flag: "--users", Path: path, Options: regularfile.Options{Private: true}}
	if err := file.check(); err != nil {
		return err
	}
	old, err := regularfile.ReadFile(path, maxUsersFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("users file: %w", err)
	}
	data, err := broker.ReplaceUser(old, name, line)
	if err != nil {
		return fmt.Errorf("users file %s: %w", path, err)
	}
	return file.write(data)
}

// maxUsersFile bounds the users file read before an entry is replaced.
const maxUsersFile = 64 << 20
