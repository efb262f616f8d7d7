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

func TestMatchTopic(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{".u/desired", ".u/desired", true},
		{".u/desired", ".u/desiredx", false},
		{".u/c/+", ".u/c/main@1.2.3", true},
		{".u/c/+", ".u/c/main@1.2.3/x", false},
		{".u/c/+", ".u/c", false},
		{"devices/+/.u/c/+", "devices/d1/.u/c/main", true},
		{"devices/+/.u/c/+", "devices/d1/.u/desired", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"+", "", true},
		{"/+", "/a", true},
		{"+/+", "/a", true},
		{"a/+/c", "a//c", true},
	}
	for _, tt := range tests {
		if got := MatchTopic(tt.filter, tt.topic); got != tt.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

func TestCheckTopicAndFilter(t *testing.T) {
	for _, bad := range []string{"", "a/+", "a/#", "a\x00b", string([]byte{0xff}), strings.Repeat("a", 65536)} {
		if CheckTopic(bad) == nil {
			t.Errorf("CheckTopic(%q) accepted", bad)
		}
	}
	if err := CheckTopic("acme/.u/c/main@1.2.3"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "a/#/b", "a/b+", "a#", "x\x00"} {
		if CheckFilter(bad) == nil {
			t.Errorf("CheckFilter(%q) accepted", bad)
		}
	}
	for _, good := range []string{"#", "+", "a/+/b/#", "devices/+/.u/c/+"} {
		if err := CheckFilter(good); err != nil {
			t.Errorf("CheckFilter(%q): %v", good, err)
		}
	}
}
