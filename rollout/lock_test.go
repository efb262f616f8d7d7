package rollout

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestLockRace(t *testing.T) {
	b := newFakeBroker(0)
	now := time.Now
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, owner := range []string{"a@x", "b@y"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Acquire(context.Background(), b, "lock", LockOptions{Owner: owner, Lease: time.Minute, Settle: 100 * time.Millisecond, Now: now})
		}()
	}
	wg.Wait()
	var held *HeldError
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.As(err, &held):
			t.Errorf("loser's error %v is not a HeldError", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of 2 racing runs took the lock: %v", won, errs)
	}
}

func TestLockLeaseAndRenewal(t *testing.T) {
	b := newFakeBroker(0)
	clock := time.Unix(1000, 0)
	now := func() time.Time { return clock }
	o := LockOptions{Owner: "a", Lease: 30 * time.Second, Now: now}
	a, err := Acquire(context.Background(), b, "lock", o)
	if err != nil {
		t.Fatal(err)
	}
	o.Owner = "b"
	if _, err := Acquire(context.Background(), b, "lock", o); err == nil {
		t.Fatal("a live lock was taken")
	}
	// A lease that ran out (its holder died) is taken over; the old
	// holder finds out at its next renewal.
	clock = clock.Add(31 * time.Second)
	bl, err := Acquire(context.Background(), b, "lock", o)
	if err != nil {
		t.Fatalf("expired lock: %v", err)
	}
	var held *HeldError
	if err := a.Renew(context.Background()); !errors.As(err, &held) || held.Holder.Owner != "b" {
		t.Errorf("renewal of a lost lock: %v", err)
	}
	if err := a.Release(context.Background()); err != nil || b.retained["lock"] == nil {
		t.Errorf("the old holder released the new one's lock: %v", err)
	}
	if err := bl.Release(context.Background()); err != nil || b.retained["lock"] != nil {
		t.Errorf("release: %v", err)
	}
}
