package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReferenceIsCurrent fails when the man page or the markdown CLI
// reference checked in differ from the command tree: run
// `go run ./internal/gendocs` and commit what it writes.
func TestReferenceIsCurrent(t *testing.T) {
	t.Parallel()
	man, md, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join("..", "man", "otactl.1"):          man,
		filepath.Join("..", "docs", "cli", "otactl.md"): md,
	} {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (hint: go run ./internal/gendocs)", err)
		}
		if string(got) != want {
			t.Errorf("%s is stale: run `go run ./internal/gendocs` and commit it", path)
		}
	}
	// Every command is in it, hidden ones excepted.
	for _, name := range []string{"release publish", "rollout wait", "key generate", "config set", "broker passwd"} {
		words := strings.Fields(name)
		if !strings.Contains(md, "## "+words[0]) || !strings.Contains(md, "### "+words[1]) ||
			!strings.Contains(man, words[1]) {
			t.Errorf("the reference lacks %s", name)
		}
	}
	if strings.Contains(md, "__complete") {
		t.Error("the reference shows the hidden completion command")
	}
}
