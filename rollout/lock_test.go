package rollout

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otactl/otactl/fleet"
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
	// A lease about to end is left to end: between Release's read and
	// its clear another run could take it over.
	o.Settle = time.Second
	cl, err := Acquire(context.Background(), b, "lock", o)
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(29*time.Second + 500*time.Millisecond)
	if err := cl.Release(context.Background()); err != nil || b.retained["lock"] == nil {
		t.Errorf("a lease ending within the settle time was cleared: %v", err)
	}
}

// TestParseStateRefusesMismatchedStages: a state whose stages are not its
// steps (edited by hand, cut short, another version's) is an error, never
// a panic in resume.
func TestParseStateRefusesMismatchedStages(t *testing.T) {
	good := `{"hash":"ab","steps":"10%,100%","stage":0,"stages":[{"step":"10%"},{"step":"100%"}]}`
	if _, err := ParseState([]byte(good)); err != nil {
		t.Fatalf("a good state: %v", err)
	}
	for _, bad := range []string{
		`{"hash":"ab","steps":"10%,50%,100%","stage":0,"stages":[{"step":"10%"},{"step":"100%"}]}`,
		`{"hash":"ab","steps":"10%","stage":0,"stages":[{"step":"10%"},{"step":"100%"}]}`,
		`{"hash":"ab","steps":"10%,100%","stage":0,"stages":[{"step":"20%"},{"step":"100%"}]}`,
		`{"hash":"ab","steps":"nonsense","stage":0,"stages":[{"step":"10%"}]}`,
	} {
		if _, err := ParseState([]byte(bad)); err == nil {
			t.Errorf("ParseState(%s) took it", bad)
		}
	}
}

// A run whose lock another run took over stops at its next renewal,
// naming the holder, and writes no state after.
func TestRunStopsWhenLockIsLost(t *testing.T) {
	l := newLab(t, 10)
	l.judge.block = true
	l.judge.decide = func(fleet.Gate) (fleet.GateResult, error) {
		_ = l.b.PublishVerified(context.Background(), ".u/rollout/lock", []byte(`{"owner":"thief@elsewhere","token":"x","expires":"2100-01-01T00:00:00Z"}`))
		return fleet.GateResult{}, nil
	}
	req := l.request("50%,100%", OnFailurePause)
	req.Lease = 60 * time.Millisecond
	_, err := l.runner.Run(context.Background(), req)
	var held *HeldError
	if !errors.As(err, &held) || held.Holder.Owner != "thief@elsewhere" {
		t.Fatalf("err %v, want the thief's HeldError", err)
	}
	st, _ := ReadState(context.Background(), l.b, ".u/rollout/state")
	if st.Status != StatusRunning || st.Stages[0].Status != StageGating {
		t.Errorf("state after the lock was lost: %s, stage %s", st.Status, st.Stages[0].Status)
	}
	if !strings.Contains(string(l.b.retained[".u/rollout/lock"]), "thief") {
		t.Error("the thief's lock was released")
	}
}

// rollout abort during a run: the run stops at its next renewal and the
// state stays aborted.
func TestAbortStopsARun(t *testing.T) {
	l := newLab(t, 10)
	l.judge.block = true
	l.judge.decide = func(fleet.Gate) (fleet.GateResult, error) {
		if _, err := Abort(context.Background(), l.b, "ops@laptop", l.runner.Now, 0); err != nil {
			t.Error(err)
		}
		return fleet.GateResult{}, nil
	}
	req := l.request("50%,100%", OnFailurePause)
	req.Lease = 60 * time.Millisecond
	if _, err := l.runner.Run(context.Background(), req); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "cleared") {
		t.Fatalf("err %v", err)
	}
	st, _ := ReadState(context.Background(), l.b, ".u/rollout/state")
	if st.Status != StatusAborted || st.By != "ops@laptop" {
		t.Errorf("state %s by %s", st.Status, st.By)
	}
	if _, err := l.runner.Run(context.Background(), req); !errors.Is(err, ErrRefused) {
		t.Errorf("an aborted rollout started again: %v", err)
	}
}
