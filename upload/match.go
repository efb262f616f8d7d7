package upload

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MatchTopic reports whether topic matches the MQTT topic filter, with the
// rules of MQTT 3.1.1 section 4.7: "+" is one level, a final "#" is the
// parent level and everything below it, and a wildcard in the first level
// does not match topics that start with "$".
func MatchTopic(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	// Level by level, without splitting: it runs for every message.
	topicDone := false // every level of topic has been matched
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return !fmore
		}
		if topicDone {
			return false
		}
		t, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		if !fmore {
			return !tmore
		}
		filter = frest
		topic, topicDone = trest, !tmore
	}
}

// CheckTopic checks a topic to publish to: not empty, valid UTF-8 without
// NUL, at most 65535 bytes, and no wildcard.
func CheckTopic(topic string) error {
	if err := checkTopicText(topic); err != nil {
		return err
	}
	if strings.ContainsAny(topic, "+#") {
		return fmt.Errorf("topic %q: wildcards '+' and '#' are not allowed in a topic to publish to", topic)
	}
	return nil
}

// CheckFilter checks a topic filter: as CheckTopic, but "+" may stand for a
// whole level and "#" for the whole last level.
func CheckFilter(filter string) error {
	if err := checkTopicText(filter); err != nil {
		return err
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch {
		case l == "+":
		case l == "#":
			if i != len(levels)-1 {
				return fmt.Errorf("topic filter %q: '#' must be the last level", filter)
			}
		case strings.ContainsAny(l, "+#"):
			return fmt.Errorf("topic filter %q: a wildcard must be a whole level", filter)
		}
	}
	return nil
}

func checkTopicText(t string) error {
	switch {
	case t == "":
		return errors.New("empty topic")
	case len(t) > 65535:
		return fmt.Errorf("topic of %d bytes: MQTT allows at most 65535", len(t))
	case !utf8.ValidString(t):
		return fmt.Errorf("topic %q: not valid UTF-8", t)
	case strings.ContainsRune(t, 0):
		return fmt.Errorf("topic %q: contains NUL", t)
	}
	return nil
}
