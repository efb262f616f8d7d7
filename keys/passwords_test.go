package keys

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestPasswords(t *testing.T) {
	kr := newFakeKeyring()
	s := NewStore(kr)
	const broker = "mqtts://broker.example.com:8883"
	if _, err := s.Password(broker, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Password before set: %v", err)
	}
	setPassword(t, s, broker, "alice", "s3cret")
	setPassword(t, s, broker, "alice", "n3w")
	setPassword(t, s, broker, "bob@corp", "b0b")
	setPassword(t, s, "tcp://a:1883", "zed", "z")
	for user, want := range map[string]string{"alice": "n3w", "bob@corp": "b0b"} {
		if got, err := s.Password(broker, user); err != nil || got != want {
			t.Fatalf("Password(%s) = %q, %v", user, got, err)
		}
	}
	wantEntries := []string{
		"otactl logins",
		"otactl password:alice@" + broker,
		"otactl password:bob%40corp@" + broker,
		"otactl password:zed@tcp://a:1883",
	}
	if got := kr.entries(); !reflect.DeepEqual(got, wantEntries) {
		t.Fatalf("entries %q", got)
	}
	logins, err := s.Logins()
	if err != nil {
		t.Fatal(err)
	}
	want := []Login{{broker, "alice"}, {broker, "bob@corp"}, {"tcp://a:1883", "zed"}}
	if !reflect.DeepEqual(logins, want) {
		t.Fatalf("Logins = %+v", logins)
	}

	deletePassword(t, s, broker, "alice")
	// A password removed by another tool is not listed.
	if err := kr.Delete(Service, "password:zed@tcp://a:1883"); err != nil {
		t.Fatal(err)
	}
	logins, err = s.Logins()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(logins, []Login{{broker, "bob@corp"}}) {
		t.Fatalf("Logins = %+v", logins)
	}
	if err := s.DeletePassword(broker, "bob@corp"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePassword("tcp://a:1883", "zed"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if got := kr.entries(); len(got) != 0 {
		t.Fatalf("entries left after the last password went: %q", got)
	}
}

func TestPasswordUserUnambiguous(t *testing.T) {
	pairs := [][2]string{
		{"b", "a@x"}, {"x@b", "a"}, {"b", "a%40x"}, {"b", "a"}, {"@b", "a"}, {"b", "a@"},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		u := passwordUser(p[0], p[1])
		if prev, ok := seen[u]; ok {
			t.Fatalf("%q and %q both map to %q", prev, p, u)
		}
		seen[u] = p
	}
}

func TestPasswordRefuses(t *testing.T) {
	s := NewStore(newFakeKeyring())
	for _, tc := range []struct{ broker, user, pass, want string }{
		{"", "u", "p", "broker is empty"},
		{"tcp://h", "", "p", "username is empty"},
		{"tcp://h", "u", "", "password is empty"},
		{"tcp://h\n", "u", "p", "control character"},
	} {
		if err := s.SetPassword(tc.broker, tc.user, tc.pass); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetPassword(%q, %q) = %v, want %q", tc.broker, tc.user, err, tc.want)
		}
	}
}
