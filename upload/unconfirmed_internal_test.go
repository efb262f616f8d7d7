package upload

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/tcpproxy"
	"github.com/otactl/otactl/release"
)

// TestReadBackAfterReconnectIsUnconfirmed publishes a message the broker
// acknowledges and drops (mosquitto's message_size_limit): read back on the
// same connection, its absence is proof (a *VerifyError, exit 3); read back
// after the connection dropped and came back, it proves nothing (the
// message might have been lost with the connection rather than dropped by
// the broker): an *UnconfirmedError, which is not a verification failure.
func TestReadBackAfterReconnectIsUnconfirmed(t *testing.T) {
	mosquitto.Require(t)
	m := mosquitto.Start(t, mosquitto.Config{MessageSizeLimit: 100})
	proxy := tcpproxy.Start(t, m.Addr())
	ctx := context.Background()
	c, err := Connect(ctx, Options{Broker: proxy.URL(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := make([]byte, 200)
	sum := sha256.Sum256(payload)
	topic := "unconfirmed/a"

	since := c.readState()
	if err := c.PublishRetained(ctx, topic, payload); err != nil {
		t.Fatal(err)
	}
	err = c.verifyRetained(ctx, topic, len(payload), sum, false, since)
	var ve *VerifyError
	if !errors.As(err, &ve) || !ve.Missing || !errors.Is(err, release.ErrVerification) {
		t.Fatalf("same connection: %v, want a missing *VerifyError", err)
	}

	since = c.readState()
	if err := c.PublishRetained(ctx, topic, payload); err != nil {
		t.Fatal(err)
	}
	proxy.CutAll()
	deadline := time.Now().Add(10 * time.Second)
	for c.readState().losses == since.losses || !c.pc.IsConnectionOpen() {
		if time.Now().After(deadline) {
			t.Fatal("the client did not reconnect")
		}
		time.Sleep(20 * time.Millisecond)
	}
	err = c.verifyRetained(ctx, topic, len(payload), sum, false, since)
	var ue *UnconfirmedError
	if !errors.As(err, &ue) || errors.Is(err, release.ErrVerification) {
		t.Fatalf("after a reconnect: %v, want an *UnconfirmedError that is not a verification failure", err)
	}
}
