package text

import "testing"

func TestText(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Dash(""), "-"},
		{Dash("x"), "x"},
		{Plural(0, "device"), "0 devices"},
		{Plural(1, "device"), "1 device"},
		{Plural(2, "key"), "2 keys"},
		{PluralWord(1, "key"), "key"},
		{Printable("ok \x1b[2Jgone\u202e"), "ok ?[2Jgone?"},
		{Printable("plain é"), "plain é"},
		{OneLine("  a\n\tb  c \r\n"), "a b c"},
		{FirstLine("first\nsecond"), "first"},
		{FirstLine("only"), "only"},
		{LowerFirst("Required flag"), "required flag"},
		{LowerFirst(""), ""},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
