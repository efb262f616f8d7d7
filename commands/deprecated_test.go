package commands

import (
	"strings"
	"testing"
)

// TestDeprecatedSpellings: the old spellings of docs/deprecations.md still
// work, each with a warning naming its replacement, and help shows none.
func TestDeprecatedSpellings(t *testing.T) {
	e := newPubEnv(t)
	priv, _ := e.signingKey("release")
	app := e.file("app.bin", pubRandom(100))
	m := e.manifest("r.json", 1000, "", "main@1.0.0="+app)
	for _, tc := range []struct {
		args []string
		code int
		warn string
	}{
		{[]string{"release", "sign", m, "--key", "file:" + priv}, 0, "--key is deprecated: use --sign"},
		{[]string{"release", "sign", m, "-k", "file:" + priv}, 0, "-k is deprecated: use --sign"},
		{[]string{"release", "list", "--broker", "mqtt://127.0.0.1:1", "--timeout", "1s"}, ExitError, "--timeout is deprecated: use --broker-timeout"},
		{[]string{"rollout", "wait", "--broker", "mqtt://127.0.0.1:1", "--connect-timeout", "1s", "--timeout", "1s"}, ExitError, "--connect-timeout is deprecated: use --broker-timeout"},
		{[]string{"rollout", "status", "--broker", "mqtt://127.0.0.1:1", "-p", "main"}, ExitError, "-p is deprecated: use --package"},
	} {
		_, errs, code := e.run("", tc.args...)
		if code != tc.code || !strings.Contains(errs, "warning: "+tc.warn+"\n") {
			t.Errorf("%v: exit %d (want %d)\n%s", tc.args, code, tc.code, errs)
		}
	}
	for path, olds := range map[string][]string{
		"release sign": {"--key ", "-k,"}, "release list": {"--timeout D"},
		"rollout wait": {"--connect-timeout", "-p,"}, "watch": {"--timeout D", "-p,"},
	} {
		help := e.must(0, append(strings.Fields(path), "--help")...)
		for _, old := range olds {
			if strings.Contains(help, old) {
				t.Errorf("%v --help shows %q", path, old)
			}
		}
	}
}
