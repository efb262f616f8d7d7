package fleet_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	. "github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/upload"
)

// TestCheckEmpty: an empty read from a broker that keeps retained messages
// but sends none to wildcard subscriptions is an error naming that; from
// a broker that does, it is believed; a read that found devices is
// believed without a probe. The probe leaves nothing retained.
func TestCheckEmpty(t *testing.T) {
	ctx := context.Background()
	nowild := dial(t, testbroker.Quirky(t, testbroker.Quirks{NoRetainedToWildcards: true}).URL)
	err := CheckEmpty(ctx, nowild, 0, nil)
	var we *WildcardError
	if !errors.As(err, &we) || !strings.Contains(err.Error(), "does not deliver retained messages to wildcard subscriptions") ||
		!strings.Contains(we.Hint(), "otactl doctor") {
		t.Fatalf("on a broker without wildcard delivery: %v", err)
	}
	if err := CheckEmpty(ctx, nowild, 3, nil); err != nil {
		t.Fatalf("with devices: %v", err)
	}

	b := testbroker.Embedded(t, broker.Config{})
	c := dial(t, b.URL)
	var warned []string
	if err := CheckEmpty(ctx, c, 0, func(s string) { warned = append(warned, s) }); err != nil || len(warned) != 0 {
		t.Fatalf("on the embedded broker: %v, warnings %q", err, warned)
	}
	n := 0
	if err := c.ReadRetainedAll(ctx, c.Topics().Prefix()+".u/doctor/#", func(string, []byte) { n++ }); err != nil || n != 0 {
		t.Fatalf("%d probe messages left behind (%v)", n, err)
	}
}

// TestCheckEmptyUnknown: a broker that keeps no retained message at all
// (here: it drops every message over 10 bytes, acknowledged) cannot be
// checked: a warning, not an error.
func TestCheckEmptyUnknown(t *testing.T) {
	b := testbroker.Mosquitto(t, mosquitto.Config{MessageSizeLimit: 10}) // drops every probe
	c, err := upload.Connect(context.Background(), upload.Options{Broker: b.URL, Timeout: 2 * time.Second, ReadBackWait: 200 * time.Millisecond, QuietPeriod: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var warned []string
	if err := CheckEmpty(context.Background(), c, 0, func(s string) { warned = append(warned, s) }); err != nil || len(warned) != 1 ||
		!strings.Contains(warned[0], "could not be checked") {
		t.Fatalf("%v, warnings %q", err, warned)
	}
}

// interrupted is a Prober whose publish reaches the broker and is then
// interrupted (Ctrl-C during the read-back).
type interrupted struct {
	*upload.Client
	cancel context.CancelFunc
}

func (i interrupted) PublishVerified(ctx context.Context, topic string, payload []byte) error {
	if err := i.Client.PublishRetained(ctx, topic, payload); err != nil {
		return err
	}
	i.cancel()
	return ctx.Err()
}

// TestWildcardProbeClearedWhenInterrupted: a probe interrupted after its
// publish reached the broker is cleared all the same.
func TestWildcardProbeClearedWhenInterrupted(t *testing.T) {
	c := dial(t, testbroker.Embedded(t, broker.Config{}).URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, _, err := ProbeWildcardRetained(ctx, interrupted{c, cancel}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted probe: %v", err)
	}
	n := 0
	if err := c.ReadRetainedAll(context.Background(), c.Topics().Prefix()+".u/doctor/#", func(string, []byte) { n++ }); err != nil || n != 0 {
		t.Fatalf("%d probe messages left behind (%v)", n, err)
	}
}
