package rollout

import (
	"context"
	"testing"
)

// FuzzParseState: a rollout state off the broker never panics, and one
// that parses can be walked by resume: a stage in range, a stage per step.
func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"hash":"ab","steps":"10%,100%","stage":1,"stages":[{"step":"10%"},{"step":"100%"}]}`))
	f.Add([]byte(`{"hash":"ab","steps":"cohort:canary,50%,100%","stage":0,"stages":[{"step":"cohort:canary"},{"step":"50%"},{"step":"100%"}]}`))
	f.Add([]byte(`{"stages":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseState(b)
		if err != nil {
			return
		}
		steps, err := ParseSteps(st.Steps)
		if err != nil || len(steps) != len(st.Stages) || st.Stage < 0 || st.Stage >= len(st.Stages) {
			t.Fatalf("ParseState took a state resume cannot walk: %+v (%v)", st, err)
		}
	})
}

// FuzzReadLock: a lock message off the broker never panics; one that
// reads as a lock has a token.
func FuzzReadLock(f *testing.F) {
	f.Add([]byte(`{"owner":"ci","token":"00ff","expires":"2026-12-01T00:00:00Z"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fb := newFakeBroker(0)
		fb.retained["lock"] = b
		li, err := readLock(context.Background(), fb, "lock")
		if err == nil && li != nil && li.Token == "" {
			t.Fatalf("a lock without a token: %+v", li)
		}
	})
}
