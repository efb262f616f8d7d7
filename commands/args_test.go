package commands

import (
	"reflect"
	"testing"
)

func TestInterspersed(t *testing.T) {
	app := newApp(DefaultSystem())
	tests := []struct{ in, want []string }{
		{[]string{"otactl"}, []string{"otactl"}},
		{[]string{"otactl", "release", "verify", "r.json", "--pubkey", "k.pem", "a.bin"},
			[]string{"otactl", "release", "verify", "--pubkey", "k.pem", "r.json", "a.bin"}},
		{[]string{"otactl", "release", "verify", "r.json", "--pubkey=k.pem", "-o", "json"},
			[]string{"otactl", "release", "verify", "--pubkey=k.pem", "-o", "json", "r.json"}},
		// "-" is standard input, a positional argument.
		{[]string{"otactl", "release", "show", "-", "-o", "json"},
			[]string{"otactl", "release", "show", "-o", "json", "-"}},
		// After "--" nothing is a flag.
		{[]string{"otactl", "release", "show", "--", "-o"},
			[]string{"otactl", "release", "show", "--", "-o"}},
		// A bool flag takes no value.
		{[]string{"otactl", "release", "create", "x", "--allow-version-mismatch", "y"},
			[]string{"otactl", "release", "create", "--allow-version-mismatch", "x", "y"}},
		// Unknown words stay where they are, for the usage error.
		{[]string{"otactl", "nope", "--x"}, []string{"otactl", "nope", "--x"}},
		{[]string{"otactl", "__complete", "release", "--sign", ""},
			[]string{"otactl", "__complete", "release", "--sign", ""}},
	}
	for _, tt := range tests {
		if got := interspersed(app, tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("interspersed(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
