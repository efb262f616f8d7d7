package doctor

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/otactl/otactl/internal/text"
)

// sizeFloor is the smallest message the size search tries: a manifest.
const sizeFloor = 1 << 10

// size finds the largest retained message the endpoint keeps, up to the
// bound: it tries the bound first, then bisects between the floor and the
// bound until the gap is under 1/16 of what was kept (or 1 KiB). A message
// counts as kept when it is read back whole (a broker that drops larger
// messages still acknowledges them: mosquitto's message_size_limit). A
// failed try drops the connection on some brokers (NATS closes it over
// max_payload), so each try after a failure connects afresh.
func (e *endpoint) size(ctx context.Context) {
	bound := e.o.SizeBound
	topic := e.root + "size"
	defer e.clear(topic)
	keeps := func(n int64) bool { return e.keeps(ctx, topic, n) }
	if keeps(bound) {
		e.add(Check{Name: CheckSize, Endpoint: e.shown, OK: true, Bytes: bound,
			Detail: fmt.Sprintf("keeps a retained message of %s (tried up to that)", text.Bytes(bound))})
		return
	}
	lo, hi := int64(0), bound
	if keeps(sizeFloor) {
		lo = sizeFloor
		for hi-lo > max(sizeFloor, lo/16) && ctx.Err() == nil {
			mid := lo + (hi-lo)/2
			if keeps(mid) {
				lo = mid
			} else {
				hi = mid
			}
		}
	}
	// Nothing of the floor kept fails even without Need: a signed
	// manifest is about that size, so no release could be published.
	c := Check{Name: CheckSize, Endpoint: e.shown, OK: lo > 0 && (e.o.Need == 0 || lo >= e.o.Need), Bytes: lo}
	switch {
	case lo == 0:
		c.Detail = fmt.Sprintf("keeps no retained message of %s", text.Bytes(min(sizeFloor, bound)))
		c.Hint = "a signed manifest is about that size, so no release can be published there: raise the broker's limit (every hop's: bridge, cluster, message_size_limit, max_payload)"
		e.add(c)
		return
	default:
		c.Detail = fmt.Sprintf("the largest retained message kept is about %s (%s is not)", text.Bytes(lo), text.Bytes(hi))
	}
	if e.o.Need > 0 && !c.OK {
		c.Detail += fmt.Sprintf(", below the %s needed", text.Bytes(e.o.Need))
		c.Hint = "raise the broker's limit (every hop's: bridge, cluster, max_payload), or publish smaller pieces: larger artifacts need --block-size"
	}
	e.add(c)
}

// keeps publishes n random bytes retained on topic and reads them back.
func (e *endpoint) keeps(ctx context.Context, topic string, n int64) bool {
	payload := make([]byte, n)
	_, _ = rand.Read(payload)
	if err := e.c.PublishVerified(ctx, topic, payload); err == nil {
		return true
	}
	if c, err := e.o.Dial(ctx, e.options(e.url)); err == nil {
		e.c.Close()
		e.c = c
	}
	return false
}
