package rollout

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/upload"
)

// TestBakeLastLookAtDeadline: when the rollout's deadline passes during
// a bake, the bake takes in what arrived and looks a last time: a new
// failure then fails the stage (no error), as it would have a moment
// before; none leaves the deadline's error. The deadline here passes
// before the bake's first look (250 ms).
func TestBakeLastLookAtDeadline(t *testing.T) {
	url := testbroker.Start(t, testbroker.KindEmbedded).URL
	client, err := upload.Connect(context.Background(), upload.Options{Broker: url, TopicPrefix: "bake/", Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	retain := func(device, payload string) {
		t.Helper()
		topic, err := client.Topics().Report(device, "main")
		if err == nil {
			err = client.PublishRetained(ctx, topic, []byte(payload))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	retain("d1", `{"state":3,"reason":1,"version":"9.0"}`)
	retain("d2", `{"state":1,"reason":5,"version":"8.0","target":"9.0"}`)
	j := &FleetJudge{Client: client, Now: time.Now}
	for _, tc := range []struct {
		devices []string
		failed  int
	}{{[]string{"d1", "d2"}, 1}, {[]string{"d1"}, 0}} {
		g := fleet.Gate{Version: "9.0", Package: "main", Devices: tc.devices, MaxFailed: fleet.Threshold{Count: 5}}
		short, stop := context.WithTimeout(context.Background(), 200*time.Millisecond)
		res, err := j.Bake(short, g, time.Hour, 0)
		stop()
		if tc.failed > 0 && (err != nil || res.FailedCount != tc.failed) {
			t.Errorf("%v: bake at its deadline = %d failed, %v; want %d failed, no error", tc.devices, res.FailedCount, err, tc.failed)
		}
		if tc.failed == 0 && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v: bake at its deadline = %v, want the deadline", tc.devices, err)
		}
	}
}
