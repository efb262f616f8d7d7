package demo

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/release"
)

// TestLab runs the demo's steps without a terminal: a lab with a broker,
// a key, an image and a small fleet, and a release the fleet would trust.
func TestLab(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := lab.Dir
	defer func() {
		lab.Close()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("the lab's folder is left after Close: %v", err)
		}
	}()
	if err := lab.MakeKey(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(lab.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", fi, err)
	}
	if err := lab.StartFleet(ctx, 3, nil, 1, time.Now); err != nil {
		t.Fatal(err)
	}
	if ids := lab.IDs(); len(ids) != 3 || ids[0] != IDPrefix+"0001" {
		t.Errorf("ids %v", ids)
	}
	m, payload, _, err := lab.Release(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Components) != 1 || m.Components[0].Version != NewVersion || m.Expires == "" || !bytes.Contains(payload, []byte(m.Hash)) {
		t.Errorf("release %+v", m)
	}
	v := release.Verify(ctx, m, release.VerifyOptions{Keys: []crypto.PublicKey{lab.Signer.Public()}, Artifacts: []string{lab.Image}})
	if err := v.Err(); err != nil {
		t.Errorf("the release does not verify with the lab's key: %v", err)
	}
	c, err := lab.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if note, err := lab.KeepNote(); err != nil || !bytes.Contains([]byte(note), []byte(lab.Broker.URL())) {
		t.Errorf("keep note %q, %v", note, err)
	}
}

// The canary is what the rollout's first stage chooses: the stable hash
// of 'release publish --percent' over the demo's ids.
func TestCanary(t *testing.T) {
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%04d", IDPrefix, i+1)
		}
		return out
	}
	for n, want := range map[int]string{3: "", 5: "demo-0004", 20: "demo-0004 demo-0006"} {
		if got := strings.Join(Canary(ids(n)), " "); got != want {
			t.Errorf("Canary of %d = %q, want %q", n, got, want)
		}
	}
	if n := len(Canary(ids(1000))); n < 70 || n > 130 {
		t.Errorf("Canary of 1000 = %d devices, want about 100", n)
	}
}

func TestImage(t *testing.T) {
	img := Image()
	h, ok, err := release.ReadImageHeader(bytes.NewReader(img))
	if err != nil || !ok || h.Version() != NewVersion {
		t.Fatalf("image header %+v, %v, %v", h, ok, err)
	}
	if !bytes.Equal(img, Image()) {
		t.Error("the image differs from one call to the next")
	}
}
