package broker

import (
	"strings"
	"testing"

	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/release"
)

func TestParseUsers(t *testing.T) {
	h := hashOf(t, "pw")
	u, err := ParseUsers(strings.NewReader("# comment\n\n  ops " + h + " operator\nsim-1\t" + h + "\tdevice\tcanary\nsim-2 " + h + " device\n"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Len() != 3 {
		t.Fatalf("Len = %d", u.Len())
	}
	if d, ok := u.Lookup("sim-1"); !ok || d.Role != RoleDevice || d.Cohort != "canary" {
		t.Errorf("sim-1 = %+v", d)
	}
	if _, ok := u.Authenticate("sim-2", []byte("pw")); !ok {
		t.Error("right password refused")
	}
	// Twice: the second goes through the cache.
	if _, ok := u.Authenticate("sim-2", []byte("pw")); !ok {
		t.Error("right password refused the second time")
	}
	for _, bad := range []string{"", "pW", "pw "} {
		if _, ok := u.Authenticate("sim-2", []byte(bad)); ok {
			t.Errorf("password %q accepted", bad)
		}
	}
	if _, ok := u.Authenticate("nobody", []byte("pw")); ok {
		t.Error("unknown user accepted")
	}
}

func TestParseUsersErrors(t *testing.T) {
	h := hashOf(t, "pw")
	for name, text := range map[string]string{
		"too few fields":     "ops " + h,
		"too many fields":    "d " + h + " device c extra",
		"unknown role":       "ops " + h + " admin",
		"plain password":     "ops secret operator",
		"operator cohort":    "ops " + h + " operator eu",
		"device with slash":  "a/b " + h + " device",
		"device with plus":   "a+ " + h + " device",
		"device with dollar": "$a " + h + " device",
		"operator with hash": "o#1 " + h + " operator",
		"bad cohort":         "d " + h + " device e/u",
		"duplicate":          "d " + h + " device\nd " + h + " device",
		"few iterations":     "d $pbkdf2-sha256$10$c2FsdHNhbHQ$" + strings.Repeat("A", 43) + " device",
		"short key":          "d $pbkdf2-sha256$1000$c2FsdHNhbHQ$AAAA device",
		"not base64":         "d $pbkdf2-sha256$1000$!!!$" + strings.Repeat("A", 43) + " device",
	} {
		if _, err := ParseUsers(strings.NewReader(text)); err == nil {
			t.Errorf("%s: accepted %q", name, text)
		}
	}
}

func TestHashPassword(t *testing.T) {
	a, err := HashPassword([]byte("pw"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a, "$pbkdf2-sha256$100000$") {
		t.Errorf("hash %q does not use the default iterations", a)
	}
	b, _ := HashPassword([]byte("pw"), minIterations)
	if a == b {
		t.Error("two hashes of one password are equal: salt not random")
	}
	if _, err := HashPassword(nil, 0); err == nil {
		t.Error("empty password hashed")
	}
	if _, err := HashPassword([]byte("pw"), 5); err == nil {
		t.Error("5 iterations accepted")
	}
	ph, err := parseHash(b)
	if err != nil || !ph.matches([]byte("pw")) || ph.matches([]byte("px")) {
		t.Errorf("round trip of %q failed: %v", b, err)
	}
}

func FuzzParseUsers(f *testing.F) {
	h, _ := HashPassword([]byte("pw"), minIterations)
	f.Add("ops " + h + " operator\n")
	f.Add("d " + h + " device c\n# x\n")
	f.Add("d $pbkdf2-sha256$1000$AAAA$AAAA device")
	f.Fuzz(func(t *testing.T, text string) {
		u, err := ParseUsers(strings.NewReader(text))
		if err != nil {
			return
		}
		for name, user := range u.byName {
			if ValidateClientID(name) != nil {
				t.Errorf("accepted unsafe name %q", name)
			}
			if user.Role == RoleDevice && release.ValidateDeviceID(name) != nil {
				t.Errorf("accepted bad device id %q", name)
			}
		}
	})
}

// FuzzDeviceAllowed checks the device rule on arbitrary topics and
// filters, as clients send them: a device never writes outside its own
// namespace and never reads into another device's or cohort's.
func FuzzDeviceAllowed(f *testing.F) {
	for _, s := range []string{"devices/d1/.u/c/main", "devices/d2/#", "#", "+/+/+", ".u/desired", "cohorts/c2/.u/desired", ".u/c/#", "devices/d1", "devices/+/.u/c/main"} {
		f.Add(s, "acme/")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, topic, prefix string) {
		topics, err := protocol.NewTopics(prefix)
		if err != nil {
			return
		}
		own := prefix + "devices/d1/"
		if deviceAllowed(topics, "d1", "c1", topic, true) && !strings.HasPrefix(topic, own) {
			t.Fatalf("write to %q allowed", topic)
		}
		if !deviceAllowed(topics, "d1", "c1", topic, false) {
			return
		}
		switch {
		case strings.HasPrefix(topic, own):
		case topic == prefix+".u/desired", topic == prefix+"cohorts/c1/.u/desired":
		case strings.HasPrefix(topic, prefix+".u/c/"):
		default:
			t.Fatalf("read of %q allowed", topic)
		}
		if strings.ContainsAny(strings.TrimPrefix(topic, prefix), "#+") && !strings.HasPrefix(topic, own) && !strings.HasPrefix(topic, prefix+".u/c/") {
			t.Fatalf("wildcard filter %q allowed outside the device's own and the component namespaces", topic)
		}
	})
}
