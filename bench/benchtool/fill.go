package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func fillMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fill", flag.ContinueOnError)
	broker := fs.String("broker", "", "broker address HOST:PORT")
	n := fs.Int("n", 100_000, "number of devices")
	prefix := fs.String("prefix", "", "topic prefix")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *broker == "" || *n <= 0 {
		return errors.New("fill: want -broker HOST:PORT and -n > 0")
	}
	start := time.Now()
	if err := fill(ctx, *broker, *n, *prefix); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "published %d retained reports in %.2fs\n", *n, time.Since(start).Seconds())
	return nil
}

// Device i of a filled fleet: its id, and the report it left retained.
// Seven in ten are updated to 1.1.0 and idle, two are downloading it, one
// failed its integrity check (reason 5). Half the payloads are the device
// SDK's CBOR (an indefinite-length map with short keys, as in
// shared/vectors/sdk-reports.tsv), a quarter JSON with long keys, a quarter
// JSON with short keys.
func fillDevice(i int) string { return fmt.Sprintf("bench-%06d", i) }

const (
	fillPackage = "main"
	fillFrom    = "1.0.0"
	fillTarget  = "1.1.0"
)

func fillReport(i int) []byte {
	state, reason, version, target := 0, 0, fillTarget, ""
	switch i % 10 {
	case 0:
		state, reason, version, target = 1, 5, fillFrom, fillTarget
	case 1, 2:
		state, reason, version, target = 1, 0, fillFrom, fillTarget
	}
	switch i % 4 {
	case 0:
		if target == "" {
			return fmt.Appendf(nil, `{"state":%d,"reason":%d,"package":%q,"version":%q}`, state, reason, fillPackage, version)
		}
		return fmt.Appendf(nil, `{"state":%d,"reason":%d,"package":%q,"version":%q,"target":%q}`, state, reason, fillPackage, version, target)
	case 1:
		if target == "" {
			return fmt.Appendf(nil, `{"s":%d,"r":%d,"pkg":%q,"v":%q}`, state, reason, fillPackage, version)
		}
		return fmt.Appendf(nil, `{"s":%d,"r":%d,"pkg":%q,"v":%q,"t":%q}`, state, reason, fillPackage, version, target)
	}
	return sdkCBOR(state, reason, fillPackage, version, target)
}

// sdkCBOR encodes a report as the device SDK does: an indefinite-length map
// {s, r, pkg, v, t} with t left out when empty. Values are small: each
// integer below 24 and each string shorter than 24 bytes fits the head byte.
func sdkCBOR(state, reason int, pkg, version, target string) []byte {
	b := []byte{0xbf}
	text := func(s string) { b = append(append(b, 0x60+byte(len(s))), s...) }
	text("s")
	b = append(b, byte(state))
	text("r")
	b = append(b, byte(reason))
	text("pkg")
	text(pkg)
	text("v")
	text(version)
	if target != "" {
		text("t")
		text(target)
	}
	return append(b, 0xff)
}

// fill publishes n retained reports to PREFIXdevices/{id}/.u/c/main on the
// broker at addr. They go out at QoS 0, pipelined, then one QoS 1 message
// on a topic of its own: a broker handles one connection's packets in
// order, so its acknowledgement means every report before it was taken.
// (The benchmark then checks that the broker retains exactly n.)
func fill(ctx context.Context, addr string, n int, prefix string) error {
	opts := mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(fmt.Sprintf("otactl-bench-fill-%d", os.Getpid())).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(30 * time.Second)
	c := mqtt.NewClient(opts)
	if err := waitToken(ctx, c.Connect(), "connect to "+addr); err != nil {
		return err
	}
	defer c.Disconnect(250)
	for i := range n {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		topic := prefix + "devices/" + fillDevice(i) + "/.u/c/" + fillPackage
		tok := c.Publish(topic, 0, true, fillReport(i))
		if i == n-1 {
			if err := waitToken(ctx, tok, "publish"); err != nil {
				return err
			}
		}
	}
	return waitToken(ctx, c.Publish(fmt.Sprintf("%sotactl-bench/fill-done/%d", prefix, os.Getpid()), 1, false, []byte("done")), "publish the final QoS 1 message")
}

func waitToken(ctx context.Context, tok mqtt.Token, what string) error {
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("%s: no answer in 2 minutes", what)
	}
}
