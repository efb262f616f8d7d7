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

func TestNearest(t *testing.T) {
	names := []string{"generate", "list", "ls", "export", "import", "delete", "rm", "help", "h"}
	for word, want := range map[string]string{
		"lsit": "list", "gen": "generate", "LIST": "list", "exprot": "export", "delte": "delete",
		"sl": "ls", "x": "", "zzz": "", "porting": "", "hlep": "help", "j": "",
	} {
		if got := Nearest(word, names); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", word, got, want)
		}
	}
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"wiat", "wait", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"ca", "abc", 3}} {
		if got := EditDistance(tt.a, tt.b); got != tt.d {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
}

func TestShowWord(t *testing.T) {
	for in, want := range map[string]string{
		"wiat":                          `"wiat"`,
		"a b":                           "(a 3-character word, not shown)",
		"MC4CAQAwBQYDK2VwBCIEIFhz9WmIv": "(a 29-character word, not shown)",
	} {
		if got := ShowWord(in); got != want {
			t.Errorf("ShowWord(%q) = %q, want %q", in, got, want)
		}
	}
	if !PlainText("flag provided but not defined: -x") || PlainText("value MC4CAQAwBQYDK2VwBCIEIFhz9WmIv") {
		t.Error("PlainText lets a long word through, or refuses a plain message")
	}
}
