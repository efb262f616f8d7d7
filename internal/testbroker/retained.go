package testbroker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/otactl/otactl/upload"
)

// publishRetained connects to url and publishes payload retained on topic
// (an empty payload clears it).
func publishRetained(ctx context.Context, url, topic, payload string) error {
	// A cluster serves a publish (or a clear) some time after it
	// acknowledged it, longer on a loaded machine: read back for up to
	// 10 s, not the default 2 s.
	cl, err := upload.Connect(ctx, upload.Options{Broker: url, Timeout: 10 * time.Second, ReadBackWait: 10 * time.Second})
	if err != nil {
		return err
	}
	defer cl.Close()
	if payload == "" {
		return cl.Clear(ctx, topic)
	}
	return cl.PublishRetained(ctx, topic, []byte(payload))
}

// awaitRetained reads topic on url until it serves want (nothing, for an
// empty want), retrying until ctx ends.
func awaitRetained(ctx context.Context, url, topic, want string) error {
	var (
		got  []byte
		last error
	)
	for {
		got, last = readRetained(ctx, url, topic)
		if last == nil && string(got) == want {
			return nil
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%s: read %s: %w", url, topic, last)
			}
			return fmt.Errorf("%s serves %q on %s, want %q", url, got, topic, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func readRetained(ctx context.Context, url, topic string) ([]byte, error) {
	cl, err := upload.Connect(ctx, upload.Options{Broker: url, Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	got, _, err := cl.ReadRetained(ctx, topic)
	return got, err
}

// randomSuffix is 8 random hex digits, for topics of one test's own.
func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
