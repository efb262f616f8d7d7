package release

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		fn   func(string) error
		what string
		in   string
		ok   bool
	}{
		{ValidatePackage, "package", "main", true},
		{ValidatePackage, "package", "Main_fw-2.x", true},
		{ValidatePackage, "package", long(64), true},
		{ValidatePackage, "package", long(65), false},
		{ValidatePackage, "package", "", false},
		{ValidatePackage, "package", ".hidden", false},
		{ValidatePackage, "package", "a/b", false},
		{ValidatePackage, "package", "a@b", false},
		{ValidatePackage, "package", "a#b", false},
		{ValidatePackage, "package", "a$b", false},
		{ValidatePackage, "package", "a b", false},
		{ValidatePackage, "package", "a\tb", false},
		{ValidatePackage, "package", "a\x00", false},
		{ValidatePackage, "package", "a+b", false},
		{ValidatePackage, "package", "a:b", false},
		{ValidatePackage, "package", "é", false},
		{ValidateVersion, "version", "1.2.3+4", false},
		{ValidateVersion, "version", "+4", false},
		{ValidateVersion, "version", "1.2.3.4", true},
		{ValidateVersion, "version", "1.2.3-rc.1", true},
		{ValidateVersion, "version", long(64), true},
		{ValidateVersion, "version", long(65), false},
		{ValidateVersion, "version", ".1", false},
		{ValidateVersion, "version", "1.2.3 ", false},
		{ValidateVersion, "version", "v1/2", false},
		{ValidateVersion, "version", "", false},
		{ValidateDeviceID, "device id", "dev-1", true},
		{ValidateDeviceID, "device id", "aa:bb:cc:dd:ee:ff", true},
		{ValidateDeviceID, "device id", long(128), true},
		{ValidateDeviceID, "device id", long(129), false},
		{ValidateDeviceID, "device id", "$SYS", false},
		{ValidateDeviceID, "device id", ".x", false},
		{ValidateDeviceID, "device id", "+", false},
		{ValidateDeviceID, "device id", "#", false},
		{ValidateDeviceID, "device id", "a/b", false},
		{ValidateDeviceID, "device id", "a+b", false},
		{ValidateDeviceID, "device id", "", false},
		{ValidateCohort, "cohort", "canary", true},
		{ValidateCohort, "cohort", "eu:west-1", true},
		{ValidateCohort, "cohort", "$x", false},
		{ValidateCohort, "cohort", "a b", false},
		{ValidateType, "type", "mcuboot", true},
		{ValidateType, "type", "-", false},
		{ValidateType, "type", "a b", false},
	}
	for _, tt := range tests {
		err := tt.fn(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("%s %q: err = %v, want ok %v", tt.what, tt.in, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), tt.what) {
			t.Errorf("%s %q: error %q does not name the %s", tt.what, tt.in, err, tt.what)
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
