package upload_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/otactl/otactl/internal/mqttwire"
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

// FuzzReadRetainedBulk feeds what a broker sends on the streaming
// connection, after its CONNACK, to a bulk read: it must end (an error or
// a quiet period), never crash, and hand over only topics and payloads
// that the bytes hold.
func FuzzReadRetainedBulk(f *testing.F) {
	retained := func(topic, payload string) []byte {
		b, _ := mqttwire.AppendPublishHeader(nil, topic, 0, true, 0, int64(len(payload)))
		return append(b, payload...)
	}
	suback := []byte{0x90, 4, 0, 1, 0, 0x80} // the filter granted, the probe refused
	// One report, and one cleared (an empty payload, not handed over).
	good := append(append(slices.Clone(suback), retained("devices/d1/.u/c/main", `{"s":0}`)...), retained("devices/d2/.u/c/main", "")...)
	f.Add(good)
	f.Add(append(retained("devices/d1/.u/c/main", "x"), suback...))
	f.Add([]byte{0x90, 3, 0, 1, 0x80})
	f.Add([]byte{0x31, 0x7f, 0, 200})
	f.Fuzz(func(t *testing.T, data []byte) {
		url := fakeBroker(t, func(conn net.Conn) {
			if _, err := packets.ReadPacket(conn); err != nil { // SUBSCRIBE
				return
			}
			if _, err := conn.Write(data); err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, conn) // until the reader goes
		})
		c := connect(t, Options{Broker: url, Timeout: time.Second, QuietPeriod: 100 * time.Millisecond})
		calls := 0
		err := c.ReadRetainedBulk(context.Background(), []string{"devices/+/.u/c/+"}, func(topic string, payload []byte) {
			calls++
			if topic == "" || !bytes.Contains(data, []byte(topic)) || !bytes.Contains(data, payload) {
				t.Errorf("handed over %q: %q, which the broker did not send", topic, payload)
			}
		})
		if err == nil && !bytes.Contains(data, []byte{0x90}) {
			t.Errorf("a read ended well without a SUBACK: %x", data)
		}
		if bytes.Equal(data, good) && (err != nil || calls != 1) {
			t.Errorf("the well-formed read handed over %d reports (want 1): %v", calls, err)
		}
	})
}
