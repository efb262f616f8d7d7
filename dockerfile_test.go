package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// dockerInstructions reads a Dockerfile into its instructions, one line
// each: continuation lines joined, comments and blank lines dropped.
func dockerInstructions(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	cur := ""
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		out = append(out, cur+trimmed)
		cur = ""
	}
	return out
}

// TestDockerfile lints the Dockerfile: the rules a reviewer would check,
// since no docker daemon runs here to build it (where one does, the image
// is built and run as well).
func TestDockerfile(t *testing.T) {
	ins := dockerInstructions(t, "Dockerfile")
	var froms []string
	last := -1
	for i, in := range ins {
		word := strings.ToUpper(strings.Fields(in)[0])
		if word == "FROM" {
			froms = append(froms, in)
			last = i
		}
		if word == "ADD" {
			t.Errorf("ADD (which fetches URLs and unpacks archives): use COPY: %s", in)
		}
		if regexp.MustCompile(`curl[^|]*\|\s*(ba)?sh`).MatchString(in) {
			t.Errorf("a script piped from the network: %s", in)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a build stage and a minimal final stage, got %d FROM", len(froms))
	}
	for _, f := range froms {
		image := strings.Fields(f)[1]
		if !strings.Contains(image, ":") || strings.HasSuffix(image, ":latest") {
			t.Errorf("%s: pin a tag (or digest), not latest", f)
		}
	}
	final := strings.Fields(froms[len(froms)-1])[1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final stage %s: want a minimal static base (distroless/static or scratch)", final)
	}
	var user, entry string
	for _, in := range ins[last:] {
		switch strings.ToUpper(strings.Fields(in)[0]) {
		case "USER":
			user = strings.Fields(in)[1]
		case "ENTRYPOINT":
			entry = strings.TrimSpace(in[len("ENTRYPOINT"):])
		case "RUN":
			t.Errorf("RUN in the final stage (it has no shell): %s", in)
		}
	}
	if uid := strings.Split(user, ":")[0]; uid == "" || uid == "0" || uid == "root" {
		t.Errorf("final stage runs as %q: want a non-root user", user)
	}
	var argv []string
	if err := json.Unmarshal([]byte(entry), &argv); err != nil || len(argv) == 0 || argv[0] != "/usr/local/bin/otactl" {
		t.Errorf("ENTRYPOINT %q: want the exec form [\"/usr/local/bin/otactl\"]", entry)
	}
	// The binary is built as the release build builds it.
	all := strings.Join(ins, "\n")
	gorel, err := os.ReadFile(".goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w -buildid=",
		"-X github.com/otactl/otactl/commands.version=", "-X github.com/otactl/otactl/commands.commit=",
		"-X github.com/otactl/otactl/commands.date="} {
		if !strings.Contains(all, want) || !strings.Contains(string(gorel), want) {
			t.Errorf("the Dockerfile and .goreleaser.yaml must both build with %q", want)
		}
	}

	if exec.Command("docker", "info").Run() != nil {
		t.Log("no docker daemon: the image is not built here")
		return
	}
	tag := "otactl-test:" + strings.ToLower(t.Name())
	if out, err := exec.Command("docker", "build", "--build-arg", "VERSION=0.0.0-docker", "-t", tag, ".").CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	defer exec.Command("docker", "rmi", "-f", tag).Run()
	out, err := exec.Command("docker", "run", "--rm", tag, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "otactl 0.0.0-docker ") {
		t.Errorf("docker run --version: %v\n%s", err, out)
	}
}
