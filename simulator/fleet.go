package simulator

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/report"
)

// DefaultRamp is how many devices connect per second for the first time
// when Config.Ramp is zero: 15,000 devices in 30 s.
const DefaultRamp = 500

// Fleet is a set of simulated devices sharing one configuration.
type Fleet struct {
	cfg     Config
	topics  protocol.Topics
	devices []*Device
	keeper  *keeper
	pacer   *pacer
	stats   *Stats

	readyOnce sync.Once
	ready     chan struct{}
	mu        sync.Mutex
	booted    int
}

// New checks cfg and makes the fleet's devices (of its shard); Run
// connects them.
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
	brokers := cfg.Endpoints
	if len(brokers) == 0 {
		brokers = []string{cfg.Conn.Broker}
	}
	eps := make([]*endpoint, len(brokers))
	for i, b := range brokers {
		if eps[i], err = newEndpoint(cfg.Conn, b); err != nil {
			return nil, err
		}
	}
	f := &Fleet{cfg: cfg, topics: topics, ready: make(chan struct{}), keeper: newKeeper(), pacer: newPacer(cfg.ramp()), stats: newStats()}
	lo, hi := cfg.shard(len(ids))
	for i := lo; i < hi; i++ {
		// A device's index is its place in the whole fleet, so that the
		// shards of a fleet together behave as the fleet in one process.
		d := newDevice(&f.cfg, topics, ids[i], i)
		d.ep, d.keeper, d.pacer, d.stats = eps[i%len(eps)], f.keeper, f.pacer, f.stats
		f.devices = append(f.devices, d)
	}
	return f, nil
}

// shard is the range of the n device ids that Config.Shard names: the
// I-th of N slices as equal as they can be, in id order.
func (c *Config) shard(n int) (lo, hi int) {
	if c.Shards <= 1 {
		return 0, n
	}
	return (c.Shard - 1) * n / c.Shards, c.Shard * n / c.Shards
}

// Devices are the fleet's devices, in id order.
func (f *Fleet) Devices() []*Device { return f.devices }

// Ready is closed once every device has connected and reported once.
func (f *Fleet) Ready() <-chan struct{} { return f.ready }

// Stats are the fleet's load figures so far, with its shard when it runs
// one of several.
func (f *Fleet) Stats() Summary {
	sum := f.stats.Summary(len(f.devices))
	if f.cfg.Shards > 1 {
		sum.Shard = fmt.Sprintf("%d/%d", f.cfg.Shard, f.cfg.Shards)
	}
	return sum
}

// rampDelay is when the k-th device (from 0) connects for the first time
// at rate devices a second: the ramp spreads the fleet's first
// connections evenly instead of storming the broker.
func rampDelay(k int, rate float64) time.Duration {
	return time.Duration(float64(k) / rate * float64(time.Second))
}

// pacer holds the fleet's connections, first ones and reconnects alike
// (the reboots after an update), to at most rate a second: a fleet that
// reboots at once would otherwise storm the broker with handshakes, which
// overflow its listen queue and time out.
type pacer struct {
	mu       sync.Mutex
	next     time.Time
	interval time.Duration
}

func newPacer(rate float64) *pacer { return &pacer{interval: rampDelay(1, rate)} }

// reserve returns the time of the next free slot at or after now, and
// takes it.
func (p *pacer) reserve(now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	slot := p.next
	if slot.Before(now) {
		slot = now
	}
	p.next = slot.Add(p.interval)
	return slot
}

// wait waits for a slot to connect in; false when ctx ended first.
func (p *pacer) wait(ctx context.Context, d *Device) bool {
	if p == nil {
		return ctx.Err() == nil
	}
	return d.sleep(ctx, time.Until(p.reserve(time.Now())))
}

// Run connects the devices and runs them until ctx ends. The first device
// connects before the others start: when it cannot (a wrong address, bad
// credentials, an access rule) Run returns that error. The others follow
// at Config.Ramp devices a second, each a goroutine started when its turn
// comes, at most a second's worth still connecting at once; every later
// connection (reboots, reconnects) keeps within the same rate. Connection
// trouble is retried by each device and reported through OnEvent.
func (f *Fleet) Run(ctx context.Context) error {
	kctx, stopKeeper := context.WithCancel(context.Background())
	defer stopKeeper()
	go f.keeper.run(kctx)
	first := f.devices[0]
	if err := first.boot(ctx, bootReport{report.Idle, report.ReasonReady, ""}); err != nil {
		first.disconnect()
		return fmt.Errorf("simulated device %s: %w", first.ID, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { first.loop(ctx) })
	f.booted1()

	rate := f.cfg.ramp()
	start := time.Now()
	sem := make(chan struct{}, max(32, int(rate)))
	for k, d := range f.devices[1:] {
		if !first.sleep(ctx, rampDelay(k+1, rate)-time.Since(start)) {
			break
		}
		wg.Go(func() { f.runOne(ctx, d, sem) })
	}
	wg.Wait()
	return nil
}

// runOne runs device d after its jitter, holding a place in sem until it
// is up.
func (f *Fleet) runOne(ctx context.Context, d *Device, sem chan struct{}) {
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
}

func (f *Fleet) booted1() {
	f.stats.up()
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
