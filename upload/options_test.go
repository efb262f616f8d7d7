package upload

import (
	"strings"
	"testing"
	"time"
)

func TestBrokerURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "mqtt://localhost:1883"},
		{"broker.example", "mqtt://broker.example:1883"},
		{"mqtt://h", "mqtt://h:1883"},
		{"tcp://h:1884", "mqtt://h:1884"},
		{"ssl://h", "mqtts://h:8883"},
		{"MQTTS://h", "mqtts://h:8883"},
		{"ws://h/mqtt", "ws://h:80/mqtt"},
		{"wss://h:9443/mqtt", "wss://h:9443/mqtt"},
		{"mqtt://[::1]", "mqtt://[::1]:1883"},
	}
	for _, tt := range tests {
		u, err := BrokerURL(tt.in)
		if err != nil {
			t.Errorf("BrokerURL(%q): %v", tt.in, err)
			continue
		}
		if u.String() != tt.want {
			t.Errorf("BrokerURL(%q) = %q, want %q", tt.in, u, tt.want)
		}
	}
	for _, bad := range []string{"http://h", "mqtt://", "mqtt://user:secret@h", "mqtt://h/path", "mqtt://h:x"} {
		_, err := BrokerURL(bad)
		if err == nil {
			t.Errorf("BrokerURL(%q) accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("BrokerURL(%q) error shows the password: %v", bad, err)
		}
	}
}

func TestValidateClientID(t *testing.T) {
	for _, bad := range []string{"", "+", "#", "a/b", "a b", strings.Repeat("a", 129)} {
		if ValidateClientID(bad) == nil {
			t.Errorf("ValidateClientID(%q) accepted", bad)
		}
	}
	if err := ValidateClientID("otactl-ci:01"); err != nil {
		t.Error(err)
	}
}

func TestPublishTimeoutScales(t *testing.T) {
	o := Options{Timeout: 10 * time.Second}
	small, large := o.publishTimeout(1000), o.publishTimeout(64<<20)
	if small != 10*time.Second {
		t.Errorf("publishTimeout(1000) = %s", small)
	}
	if want := 10*time.Second + 512*time.Second; large != want {
		t.Errorf("publishTimeout(64 MiB) = %s, want %s", large, want)
	}
}
