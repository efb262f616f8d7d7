package upload

import (
	"strings"
	"testing"
)

// matchTopicSplit is MatchTopic as first written, splitting both sides
// into levels: the reference the allocation-free version must agree with.
func matchTopicSplit(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	fl := strings.Split(filter, "/")
	tl := strings.Split(topic, "/")
	for i, f := range fl {
		if f == "#" {
			return i == len(fl)-1
		}
		if i >= len(tl) {
			return false
		}
		if f != "+" && f != tl[i] {
			return false
		}
	}
	return len(fl) == len(tl)
}

func TestMatchTopicSameAsSplit(t *testing.T) {
	levels := []string{"", "a", "b", "+", "#", "$SYS", "devices", ".u"}
	var names []string
	for _, a := range levels {
		names = append(names, a)
		for _, b := range levels {
			names = append(names, a+"/"+b)
			for _, c := range levels {
				names = append(names, a+"/"+b+"/"+c)
			}
		}
	}
	for _, f := range names {
		for _, topic := range names {
			if got, want := MatchTopic(f, topic), matchTopicSplit(f, topic); got != want {
				t.Errorf("MatchTopic(%q, %q) = %v, want %v", f, topic, got, want)
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() { MatchTopic("devices/+/.u/c/+", "devices/d1/.u/c/main") }); n != 0 {
		t.Errorf("MatchTopic allocates %v times", n)
	}
}

func FuzzMatchTopic(f *testing.F) {
	f.Add("devices/+/.u/c/+", "devices/d1/.u/c/main")
	f.Add("a/#", "a")
	f.Add("#", "$SYS/x")
	f.Add("+/+", "/a")
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if got, want := MatchTopic(filter, topic), matchTopicSplit(filter, topic); got != want {
			t.Fatalf("MatchTopic(%q, %q) = %v, want %v", filter, topic, got, want)
		}
	})
}
