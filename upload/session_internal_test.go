package upload

import "testing"

// TestSessionMatches: a session matches a topic under any of its filters,
// whichever matched before.
func TestSessionMatches(t *testing.T) {
	s := newSession(false, ".u/desired", "cohorts/+/.u/desired", "devices/+/.u/desired", "devices/+/.u/c/+")
	for _, c := range []struct {
		topic string
		want  bool
	}{
		{"devices/d1/.u/c/main", true},
		{"devices/d2/.u/c/main", true},
		{".u/desired", true},
		{"devices/d1/.u/c/main", true},
		{"devices/d1/.u/desired", true},
		{"cohorts/c/.u/desired", true},
		{"devices/d1/.u/c", false},
		{"cohorts/c/.u/desired/x", false},
		{".u/c/main@1.0.0", false},
		{"devices/d3/.u/c/modem", true},
	} {
		if got := s.matches(c.topic); got != c.want {
			t.Errorf("matches(%q) = %v, want %v", c.topic, got, c.want)
		}
	}
	if got := newSession(false).matches("a"); got {
		t.Error("a session without filters matches")
	}
}

// TestMailboxSwap: a batch handed back is reused without losing or
// repeating a message.
func TestMailboxSwap(t *testing.T) {
	b := mailbox{wake: make(chan struct{}, 1)}
	var done []Message
	next := 0
	for round := range 5 {
		for range round * 3 {
			b.push(Message{Topic: "t", Payload: []byte{byte(next)}})
			next++
		}
		msgs, err := b.swap(done)
		if err != nil || len(msgs) != round*3 {
			t.Fatalf("round %d: %d messages, %v", round, len(msgs), err)
		}
		for i, m := range msgs {
			if want := next - round*3 + i; int(m.Payload[0]) != want {
				t.Fatalf("round %d: message %d is %d, want %d", round, i, m.Payload[0], want)
			}
		}
		done = msgs
	}
	b.fail(ErrClosed)
	if _, err := b.swap(done); err != ErrClosed {
		t.Errorf("after fail: %v", err)
	}
}
