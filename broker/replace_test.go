package broker

import (
	"strings"
	"testing"
)

func TestReplaceUser(t *testing.T) {
	hash, err := HashPassword([]byte("pw"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	a := FormatUser("a", RoleOperator, "", hash)
	b := FormatUser("b", RoleDevice, "", hash)
	b2 := FormatUser("b", RoleDevice, "canary", hash)
	for _, tt := range []struct{ old, name, line, want string }{
		{"", "a", a, a + "\n"},
		{a + "\n", "b", b, a + "\n" + b + "\n"},
		{"# users\n" + a + "\n" + b + "\n", "b", b2, "# users\n" + a + "\n" + b2 + "\n"},
		{"\n\n" + b + "\n", "b", b2, b2 + "\n"},
	} {
		got, err := ReplaceUser([]byte(tt.old), tt.name, tt.line)
		if err != nil || string(got) != tt.want {
			t.Errorf("ReplaceUser(%q, %s) = %q, %v; want %q", tt.old, tt.name, got, err, tt.want)
		}
	}
	if _, err := ReplaceUser([]byte("a b c d e f\n"), "x", b); err == nil || !strings.Contains(err.Error(), "line") {
		t.Errorf("a damaged file was accepted: %v", err)
	}
}
