package rollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrRefused is wrapped by every refusal of a rollout: another run holds
// the lock, another rollout is in progress, the state says it cannot go on
// (exit 3).
var ErrRefused = errors.New("rollout refused")

// LockInfo is the retained lock: who holds it until when.
type LockInfo struct {
	Owner   string    `json:"owner"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// HeldError is a lock held by another live run.
type HeldError struct{ Holder LockInfo }

func (e *HeldError) Error() string {
	return fmt.Sprintf("%v: another 'rollout start' holds the rollout lock: %s, until %s",
		ErrRefused, e.Holder.Owner, e.Holder.Expires.UTC().Format(time.RFC3339))
}

func (e *HeldError) Unwrap() error { return ErrRefused }

func (e *HeldError) Hint() string {
	return "wait for it to finish, or for its lease to end if it died; 'otactl rollout status' shows the rollout"
}

// Lock is a held rollout lock. It is a retained message of our own with
// a lease (docs/rollouts.md, "The lock"): plain MQTT has no compare and
// set, so it is taken by reading, publishing and reading back after a
// settle time; the last writer holds it, and a holder that finds another
// run's lock at a renewal stops.
type Lock struct {
	r      Retained
	topic  string
	info   LockInfo
	lease  time.Duration
	settle time.Duration
	now    func() time.Time
}

// LockOptions say how a lock is taken.
type LockOptions struct {
	Owner string
	// Lease is how long the lock holds without renewal; Renew renews it.
	Lease time.Duration
	// Settle is how long to wait before reading the lock back: racing
	// writers both publish within it.
	Settle time.Duration
	Now    func() time.Time
}

// Acquire takes the lock on topic, or fails with a *HeldError naming the
// holder of a live lock.
func Acquire(ctx context.Context, r Retained, topic string, o LockOptions) (*Lock, error) {
	if held, err := readLock(ctx, r, topic); err != nil {
		return nil, err
	} else if held != nil && o.Now().Before(held.Expires) {
		return nil, &HeldError{*held}
	}
	var tok [12]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, err
	}
	l := &Lock{r: r, topic: topic, lease: o.Lease, settle: o.Settle, now: o.Now,
		info: LockInfo{Owner: o.Owner, Token: hex.EncodeToString(tok[:])}}
	if err := l.write(ctx); err != nil {
		return nil, err
	}
	select {
	case <-time.After(o.Settle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := l.Check(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

func readLock(ctx context.Context, r Retained, topic string) (*LockInfo, error) {
	b, found, err := r.ReadRetained(ctx, topic)
	if err != nil || !found || len(b) == 0 {
		return nil, err
	}
	var li LockInfo
	if err := json.Unmarshal(b, &li); err != nil || li.Token == "" {
		return nil, nil // not a lock: taken over
	}
	return &li, nil
}

func (l *Lock) write(ctx context.Context) error {
	l.info.Expires = l.now().Add(l.lease).UTC()
	b, err := json.Marshal(l.info)
	if err != nil {
		return err
	}
	if err := l.r.PublishVerified(ctx, l.topic, b); err != nil {
		// A racer's publish read back instead of ours is a lost race.
		if held, rerr := readLock(ctx, l.r, l.topic); rerr == nil && held != nil && held.Token != l.info.Token {
			return &HeldError{*held}
		}
		return fmt.Errorf("rollout lock: %w", err)
	}
	return nil
}

// Check fails with a *HeldError when the lock retained is not this one.
func (l *Lock) Check(ctx context.Context) error {
	held, err := readLock(ctx, l.r, l.topic)
	if err != nil {
		return err
	}
	if held == nil || held.Token != l.info.Token {
		if held == nil {
			return fmt.Errorf("%w: the rollout lock %s was cleared by another run", ErrRefused, l.topic)
		}
		return &HeldError{*held}
	}
	return nil
}

// Renew checks that the lock is still this one, then extends its lease.
func (l *Lock) Renew(ctx context.Context) error {
	if err := l.Check(ctx); err != nil {
		return err
	}
	return l.write(ctx)
}

// Hold renews the lock every third of its lease until ctx ends; when it
// is lost (another run's lock is found), lost is called with the error
// and Hold returns.
func (l *Lock) Hold(ctx context.Context, lost func(error)) {
	t := time.NewTicker(l.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.Renew(ctx); err != nil {
				if ctx.Err() == nil {
					lost(err)
				}
				return
			}
		}
	}
}

// Release clears the lock if it is still this one. Plain MQTT has no
// compare-and-set: between the read and the clear another run may take a
// lock whose lease ran out, so a lease about to end (within the settle
// time of racing writers) is left to end on its own instead.
func (l *Lock) Release(ctx context.Context) error {
	if err := l.Check(ctx); err != nil {
		return nil // not ours any more: nothing to release
	}
	if !l.now().Add(l.settle).Before(l.info.Expires) {
		return nil
	}
	return l.r.Clear(ctx, l.topic)
}

// The lock's defaults: a run that dies holds the lock for DefaultLease;
// racing runs' publishes meet within DefaultSettle.
const (
	DefaultLease  = 30 * time.Second
	DefaultSettle = time.Second
)
