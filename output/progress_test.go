package output

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	clock := time.Unix(0, 0)
	p := NewProgressBar(&b)
	p.now = func() time.Time { return clock }
	p.Update("small", 10, 100) // under MinProgress: nothing
	if b.Len() != 0 {
		t.Fatalf("small publish drew %q", b.String())
	}
	total := int64(4 << 20)
	for sent := int64(0); sent < total; sent += 256 << 10 {
		p.Update(".u/c/main@1.0.0", sent, total)
		clock = clock.Add(30 * time.Millisecond) // some updates are skipped
	}
	p.Update(".u/c/main@1.0.0", total, total)
	out := b.String()
	frames := strings.Count(out, "\r")
	if frames < 3 || frames > 10 {
		t.Errorf("%d frames, want a few", frames)
	}
	if !strings.HasSuffix(out, "4.0 MiB / 4.0 MiB 100%\n") {
		t.Errorf("last frame: %q", out[strings.LastIndex(out, "\r"):])
	}
}
