package release

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	for _, tt := range []struct {
		fn      func(string) error
		what    string
		ok, bad []string
	}{
		{ValidatePackage, "package",
			[]string{"main", "Main_fw-2.x", long(64)},
			[]string{long(65), "", ".hidden", "a/b", "a@b", "a#b", "a$b", "a b", "a\tb", "a\x00", "a+b", "a:b", "é"}},
		{ValidateVersion, "version",
			[]string{"1.2.3.4", "1.2.3-rc.1", long(64)},
			[]string{long(65), "1.2.3+4", "+4", ".1", "1.2.3 ", "v1/2", ""}},
		{ValidateDeviceID, "device id",
			[]string{"dev-1", "aa:bb:cc:dd:ee:ff", long(128)},
			[]string{long(129), "$SYS", ".x", "+", "#", "a/b", "a+b", ""}},
		{ValidateCohort, "cohort",
			[]string{"canary", "eu:west-1"},
			[]string{"$x", "a b"}},
		{ValidateType, "type",
			[]string{"mcuboot"},
			[]string{"-", "a b"}},
	} {
		for _, in := range tt.ok {
			if err := tt.fn(in); err != nil {
				t.Errorf("%s %q: %v, want it accepted", tt.what, in, err)
			}
		}
		for _, in := range tt.bad {
			err := tt.fn(in)
			if err == nil {
				t.Errorf("%s %q accepted", tt.what, in)
			} else if !strings.Contains(err.Error(), tt.what) {
				t.Errorf("%s %q: error %q does not name the %s", tt.what, in, err, tt.what)
			}
		}
	}
}

func TestNameErrorShowsCharacter(t *testing.T) {
	err := ValidatePackage("maïn")
	if err == nil || !strings.Contains(err.Error(), "'ï'") || !strings.Contains(err.Error(), "position 3") {
		t.Errorf("err = %v, want the character and its position", err)
	}
}

func TestComponentURI(t *testing.T) {
	if got := ComponentURI("main", "1.2.3+4"); got != "/.u/c/main@1.2.3+4" {
		t.Errorf("ComponentURI = %q", got)
	}
}
