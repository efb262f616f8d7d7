// Command benchtool measures otactl side by side with the tools users would
// otherwise script (openssl, mosquitto_pub, mosquitto_sub). bench/run builds
// it and drives it; its subcommands can also be run by hand:
//
//	benchtool suite -otactl BIN -broker 127.0.0.1:PORT -dir DIR [-quick]
//	benchtool fill -broker 127.0.0.1:PORT -n 100000 [-prefix P]
//	benchtool gen -size BYTES FILE...
//	benchtool rawupload -broker 127.0.0.1:PORT -topic TOPIC FILE
//	benchtool freeport
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	switch os.Args[1] {
	case "suite":
		err = suiteMain(ctx, os.Args[2:])
	case "fill":
		err = fillMain(ctx, os.Args[2:])
	case "gen":
		err = genMain(ctx, os.Args[2:])
	case "rawupload":
		err = rawuploadMain(ctx, os.Args[2:])
	case "freeport":
		err = freeport()
	default:
		usage()
	}
	interrupted := ctx.Err() != nil // before stop, which cancels ctx too
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool: "+err.Error())
		if interrupted {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchtool suite|fill|gen|rawupload|freeport [flags] (see bench/run and BENCHMARKS.md)")
	os.Exit(2)
}

// freeport prints a TCP port free on the loopback interface right now.
func freeport() error {
	p, err := freePort()
	if err != nil {
		return err
	}
	fmt.Println(p)
	return nil
}

// freePort is a TCP port free on the loopback interface right now.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
