// Command otactl manages over-the-air firmware releases over MQTT.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/otactl/otactl/commands"
)

func main() {
	// A reader of standard output that goes away (a closed pipe) must not
	// end otactl in the middle of a publish: with SIGPIPE caught, writes
	// fail with EPIPE instead, the command runs to its end, and Main says
	// the output was lost (exit 1). Caught, not ignored: a program otactl
	// starts (an exec: signer) gets the default back, where an ignored
	// signal would stay ignored in it.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first SIGINT or SIGTERM cancels ctx and otactl winds down
		// (exit 130); a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	code := commands.Main(ctx, os.Args, commands.DefaultSystem())
	stop()
	os.Exit(code)
}
