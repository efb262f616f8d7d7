package commands

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/profile"
	"github.com/otactl/otactl/protocol"
)

type brokerOptions struct {
	TLSCert   string
	TLSKey    string
	MaxPacket string
	Users     string
	Verbose   bool
	Output    string
	// Config takes --listen, --ws, --data and --topic-prefix as they are.
	Config broker.Config
}

func newBrokerCommand(sys *System) *cli.Command {
	opts := &brokerOptions{}
	return &cli.Command{
		Name:      "broker",
		Usage:     "run an MQTT broker for a fleet: retained releases, per-device access rules",
		UsageText: "otactl broker [--listen ADDR] [--ws ADDR] [--data DIR] [--tls-cert FILE --tls-key FILE] [--max-packet SIZE] [--users FILE]",
		Description: `Runs an embedded MQTT 3.1.1/5 broker (mochi-mqtt) until interrupted.
Retained messages (components, manifests, reports) never expire; with --data
they are kept in DIR and survive a restart. A retained publish is then
acknowledged only once it is synced to DIR; one that cannot be stored (a full
disk) is dropped and the publisher's connection closed, without a PUBACK.

Without --users anyone who can reach it may connect, so it listens on
loopback addresses only. With --users FILE clients authenticate, operators
may do everything and each device may publish only under its own
devices/{id}/ and read only the fleet, its cohort's and its own topics.
Make entries for the users file with 'otactl broker passwd'. After 10 failed
logins from one address within 10s, that address is refused for 10s.

The broker's URLs are printed on standard output, one per listener.

Example:
   $ otactl broker --data ./broker-data
   mqtt://127.0.0.1:1883
   $ otactl broker passwd --role operator --users users.txt ops
   $ otactl broker --listen 0.0.0.0:8883 --tls-cert cert.pem --tls-key key.pem \
       --users users.txt --data /var/lib/otactl`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "`ADDR` for MQTT (MQTT over TLS with --tls-cert)", Value: "127.0.0.1:1883", Destination: &opts.Config.Listen},
			&cli.StringFlag{Name: "ws", Usage: "also serve MQTT over WebSocket on `ADDR` (wss with --tls-cert)", Destination: &opts.Config.WS},
			&cli.StringFlag{Name: "data", Usage: "keep retained messages in `DIR` across restarts (acknowledged once on disk)", Destination: &opts.Config.DataDir},
			&cli.StringFlag{Name: "tls-cert", Usage: "PEM certificate `FILE` (chain) for TLS", Destination: &opts.TLSCert},
			&cli.StringFlag{Name: "tls-key", Usage: "PEM private key `FILE` for TLS", Destination: &opts.TLSKey},
			&cli.StringFlag{Name: "max-packet", Usage: "largest MQTT packet accepted, e.g. 16M (default: MQTT's limit, 256 MiB)", Destination: &opts.MaxPacket},
			&cli.StringFlag{Name: "users", Usage: "users `FILE`: NAME HASH ROLE [COHORT] per line", Destination: &opts.Users},
			fleetTopicPrefixFlag(&opts.Config.TopicPrefix),
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log connections and refusals", Destination: &opts.Verbose},
			outputFlag(&opts.Output),
		},
		Subcommands: []*cli.Command{newBrokerPasswdCommand(sys)},
		Action: runWithoutArgs("broker", "run 'otactl broker --help'", func(ctx context.Context) error {
			if (opts.TLSCert == "") != (opts.TLSKey == "") {
				return usageErrorf("broker: TLS needs both --tls-cert and --tls-key")
			}
			return brokerRun(ctx, sys, opts)
		}),
	}
}

// fleetTopicPrefixFlag is --topic-prefix, read from OTACTL_TOPIC_PREFIX too.
func fleetTopicPrefixFlag(dest *string) cli.Flag {
	return &cli.StringFlag{
		Name:        "topic-prefix",
		Usage:       "`PREFIX` prepended verbatim to every topic, e.g. acme/",
		EnvVars:     []string{"OTACTL_TOPIC_PREFIX"},
		Destination: dest,
	}
}

// brokerConfig turns the options into a broker configuration.
func brokerConfig(sys *System, opts *brokerOptions) (broker.Config, error) {
	cfg := opts.Config
	if err := broker.CheckAddress(cfg.Listen); err != nil {
		return cfg, usageErrorf("broker: --listen: %v", err)
	}
	if cfg.WS != "" {
		if err := broker.CheckAddress(cfg.WS); err != nil {
			return cfg, usageErrorf("broker: --ws: %v", err)
		}
	}
	if _, err := protocol.NewTopics(cfg.TopicPrefix); err != nil && cfg.TopicPrefix != sys.Getenv("OTACTL_TOPIC_PREFIX") {
		// From OTACTL_TOPIC_PREFIX it is an input error, as for the
		// other commands (profile.Resolve); broker.Start refuses it.
		return cfg, usageErrorf("broker: --topic-prefix: %v", err)
	}
	if opts.MaxPacket != "" {
		n, err := profile.ParseSize(opts.MaxPacket)
		if err != nil || n < 1024 || n > 268435460 {
			return cfg, usageErrorf("broker: --max-packet %q: want a size from 1k to 256M, e.g. 16M", opts.MaxPacket)
		}
		cfg.MaxPacket = uint32(n)
	}
	if opts.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(opts.TLSCert, opts.TLSKey)
		if err != nil {
			return cfg, fmt.Errorf("broker: TLS certificate %s and key %s: %w", opts.TLSCert, opts.TLSKey, err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if opts.Users != "" {
		users, err := broker.LoadUsers(opts.Users)
		if err != nil {
			return cfg, withHint(err, "each line is NAME HASH ROLE [COHORT]; make one with 'otactl broker passwd NAME'")
		}
		cfg.Users = users
	}
	level := slog.LevelWarn
	if opts.Verbose {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(sys.Stderr, &slog.HandlerOptions{Level: level}))
	return cfg, nil
}

func brokerRun(ctx context.Context, sys *System, opts *brokerOptions) error {
	cfg, err := brokerConfig(sys, opts)
	if err != nil {
		return err
	}
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()

	if opts.Output == "json" {
		out := map[string]any{"url": b.URL(), "auth": cfg.Users != nil, "topicPrefix": cfg.TopicPrefix}
		if u := b.WSURL(); u != "" {
			out["wsUrl"] = u
		}
		if cfg.DataDir != "" {
			out["data"] = cfg.DataDir
		}
		if err := writeJSON(sys.Stdout, "broker", out); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(sys.Stdout, b.URL())
		if u := b.WSURL(); u != "" {
			fmt.Fprintln(sys.Stdout, u)
		}
	}
	if cfg.Users == nil {
		fmt.Fprintln(sys.Stderr, "broker: no --users: anyone on this machine may connect, so it listens on loopback only")
	} else if cfg.Users.Len() == 0 {
		fmt.Fprintf(sys.Stderr, "warning: broker: no users in %s: nobody can connect\nhint: add one with 'otactl broker passwd --users %s NAME'\n", opts.Users, opts.Users)
	} else {
		fmt.Fprintf(sys.Stderr, "broker: %d users from %s; devices are confined to their own topics\n", cfg.Users.Len(), opts.Users)
	}
	if cfg.DataDir == "" {
		fmt.Fprintln(sys.Stderr, "broker: no --data: retained releases and reports are lost when it stops")
	} else {
		fmt.Fprintf(sys.Stderr, "broker: retained messages kept in %s\n", cfg.DataDir)
	}
	fmt.Fprintf(sys.Stderr, "broker: listening on %s; stop with Ctrl-C\n", strings.TrimSpace(b.URL()+" "+b.WSURL()))

	select {
	case <-ctx.Done():
	case <-b.Done():
	}
	if err := b.Close(); err != nil {
		if ctx.Err() != nil {
			return failedAfterInterrupt(fmt.Errorf("broker: interrupted, then the stop failed: %w", err))
		}
		return fmt.Errorf("broker: stop: %w", err)
	}
	fmt.Fprintln(sys.Stderr, "broker: stopped")
	return nil
}
