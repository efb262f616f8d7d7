package report

import "strings"

// Topic is the topic a device publishes its report for pkg on:
// prefix + "devices/{device}/.u/c/{package}".
func Topic(prefix, device, pkg string) string {
	return prefix + "devices/" + device + "/.u/c/" + pkg
}

// SubscribeTopic is the MQTT filter that matches every device's reports.
func SubscribeTopic(prefix string) string {
	return prefix + "devices/+/.u/c/+"
}

// ParseTopic splits a report topic, prefix + "devices/{device}/.u/c/{package}",
// into its device id and package. ok is false when the topic has another
// shape, or when the device id or package breaks the naming rules
// (CONTRACT.md section 1). device and pkg share topic's memory.
func ParseTopic(prefix, topic string) (device, pkg string, ok bool) {
	rest, found := strings.CutPrefix(topic, prefix)
	if !found {
		return "", "", false
	}
	rest, found = strings.CutPrefix(rest, "devices/")
	if !found {
		return "", "", false
	}
	device, pkg, found = strings.Cut(rest, "/.u/c/")
	if !found || !validName(device, 128, "._:-", ".$") || !validName(pkg, MaxField, "._-", ".") {
		return "", "", false
	}
	return device, pkg, true
}

// validName checks the naming rules: 1 to max characters of [A-Za-z0-9]
// and extra, not starting with any byte of leading.
func validName(s string, max int, extra, leading string) bool {
	if s == "" || len(s) > max || strings.IndexByte(leading, s[0]) >= 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || strings.IndexByte(extra, c) >= 0 {
			continue
		}
		return false
	}
	return true
}
