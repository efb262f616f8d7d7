package upload_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/testbroker"
	. "github.com/otactl/otactl/upload"
)

// TestReadRetainedEach reads several filters with one probe: every
// retained message of each filter arrives, filter by filter in the order
// given (as mosquitto and mochi-mqtt send them), a filter given twice is
// read once, and nothing outside the filters shows up.
func TestReadRetainedEach(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		ctx := context.Background()
		pub := connect(t, Options{Broker: b.URL, TopicPrefix: "each/"})
		tp := pub.Topics()
		want := map[string]string{}
		publish := func(topic, payload string) {
			t.Helper()
			if err := pub.PublishRetained(ctx, topic, []byte(payload)); err != nil {
				t.Fatal(err)
			}
		}
		fleet := tp.Fleet()
		publish(fleet, "fleet")
		want[fleet] = "fleet"
		for i := range 3 {
			cohort, _ := tp.Cohort(fmt.Sprintf("c%d", i))
			publish(cohort, "cohort")
			want[cohort] = "cohort"
		}
		for i := range 50 {
			topic, _ := tp.Report(fmt.Sprintf("dev-%02d", i), "main")
			publish(topic, "report")
			want[topic] = "report"
		}
		// Under none of the filters read.
		other, _ := tp.Device("dev-00")
		publish(other, "device")

		// The reports first, then the fleet's and the cohorts'
		// manifests, with the reports' filter given twice.
		filters := []string{tp.ReportsFilter(), fleet, tp.CohortsFilter(), tp.ReportsFilter()}
		reader := connect(t, Options{Broker: b.URL, TopicPrefix: "each/"})
		for round := range 4 {
			var order []string // the payload kinds, in arrival order
			got := map[string]string{}
			read := reader.ReadRetainedEach
			if round >= 2 {
				read = reader.ReadRetainedBulk // the same through a streaming connection
			}
			err := read(ctx, filters, func(topic string, payload []byte) {
				if _, dup := got[topic]; dup {
					t.Errorf("round %d: %s read twice", round, topic)
				}
				got[topic] = string(payload)
				if len(order) == 0 || order[len(order)-1] != string(payload) {
					order = append(order, string(payload))
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			sameMessages(t, round, got, want)
			if strings.Join(order, " ") != "report fleet cohort" {
				t.Errorf("round %d: messages came as %q, want the filters' order: report fleet cohort", round, order)
			}
		}
		if ProbeFailed(reader) {
			t.Error("the probe did not come back: reads fell back to quiet periods")
		}
		for _, read := range []func(context.Context, []string, func(string, []byte)) error{reader.ReadRetainedEach, reader.ReadRetainedBulk} {
			if err := read(ctx, nil, func(string, []byte) {}); err == nil {
				t.Error("a read of no filter succeeded")
			}
		}
		if err := reader.ReadRetainedEach(ctx, []string{fleet, "a/#/b"}, func(string, []byte) {}); err == nil {
			t.Error("a read of a bad filter succeeded")
		}
	})
}

// TestReadBackWaitsForALateMessage: a read-back looks again, up to
// ReadBackWait, for a message not served yet (as a cluster may serve one
// after acknowledging it); with ReadBackWait below zero it reads once.
func TestReadBackWaitsForALateMessage(t *testing.T) {
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		ctx := context.Background()
		late := connect(t, Options{Broker: b.URL})
		payload := []byte("late firmware")
		sum := sha256.Sum256(payload)
		for i, tc := range []struct {
			wait time.Duration
			ok   bool
		}{{10 * time.Second, true}, {-1, false}} {
			topic := fmt.Sprintf("late/%d", i)
			go func() {
				time.Sleep(300 * time.Millisecond)
				late.PublishRetained(ctx, topic, payload)
			}()
			c := connect(t, Options{Broker: b.URL, ReadBackWait: tc.wait})
			err := c.VerifyRetained(ctx, topic, len(payload), sum)
			var ve *VerifyError
			if tc.ok && err != nil || !tc.ok && !(errors.As(err, &ve) && ve.Missing) {
				t.Errorf("ReadBackWait %v: %v", tc.wait, err)
			}
		}
	})
}
