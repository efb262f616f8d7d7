package simulator

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/report"
)

// Fleet is a set of simulated devices sharing one configuration.
type Fleet struct {
	cfg     Config
	topics  protocol.Topics
	devices []*Device

	readyOnce sync.Once
	ready     chan struct{}
	mu        sync.Mutex
	booted    int
}

// maxConnecting bounds how many devices connect at the same moment, so
// that a large fleet does not hit the broker with every handshake at once.
const maxConnecting = 32

// New checks cfg and makes the fleet's devices; Run connects them.
func New(cfg Config) (*Fleet, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	topics, err := protocol.NewTopics(cfg.Conn.TopicPrefix)
	if err != nil {
		return nil, err
	}
	ids, err := cfg.ids()
	if err != nil {
		return nil, err
	}
	f := &Fleet{cfg: cfg, topics: topics, ready: make(chan struct{})}
	for i, id := range ids {
		f.devices = append(f.devices, newDevice(&f.cfg, topics, id, i))
	}
	return f, nil
}

// Devices are the fleet's devices, in id order.
func (f *Fleet) Devices() []*Device { return f.devices }

// Ready is closed once every device has connected and reported once.
func (f *Fleet) Ready() <-chan struct{} { return f.ready }

// Run connects the devices and runs them until ctx ends. The first device
// connects before the others start: when it cannot (a wrong address, bad
// credentials, an access rule) Run returns that error. Later connection
// trouble is retried by each device and reported through OnEvent.
func (f *Fleet) Run(ctx context.Context) error {
	first := f.devices[0]
	if err := first.boot(ctx, bootReport{report.Idle, report.ReasonReady, ""}); err != nil {
		first.disconnect()
		return fmt.Errorf("simulated device %s: %w", first.ID, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		first.loop(ctx)
	}()
	f.booted1()

	sem := make(chan struct{}, maxConnecting)
	for _, d := range f.devices[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Devices come up at random times within the jitter, and at
			// most maxConnecting at once.
			if !d.sleep(ctx, d.jitter()) {
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			released := false
			release := func() {
				if !released {
					released = true
					<-sem
				}
			}
			defer release()
			d.run(ctx, func() {
				release()
				f.booted1()
			})
		}()
	}
	wg.Wait()
	return nil
}

func (f *Fleet) booted1() {
	f.mu.Lock()
	f.booted++
	all := f.booted == len(f.devices)
	f.mu.Unlock()
	if all {
		f.readyOnce.Do(func() { close(f.ready) })
	}
}

// Count is how many devices run Version in Phase.
type Count struct {
	Version string `json:"version"`
	Phase   string `json:"phase"`
	Devices int    `json:"devices"`
}

// Status counts the devices by running version and phase, sorted by
// version then phase.
func (f *Fleet) Status() []Count {
	n := map[[2]string]int{}
	for _, d := range f.devices {
		n[[2]string{d.Version(), d.Phase()}]++
	}
	out := make([]Count, 0, len(n))
	for k, v := range n {
		out = append(out, Count{Version: k[0], Phase: k[1], Devices: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Version != out[j].Version {
			return out[i].Version < out[j].Version
		}
		return out[i].Phase < out[j].Phase
	})
	return out
}
