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
