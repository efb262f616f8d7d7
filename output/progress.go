package output

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/otactl/otactl/internal/text"
)

// ProgressBar draws the progress of large publishes on a terminal's
// stderr, at most ten times a second, and ends the line when one is done.
type ProgressBar struct {
	w     io.Writer
	now   func() time.Time
	mu    sync.Mutex
	last  time.Time
	topic string
	shown bool
}

// MinProgress is the smallest publish that gets a bar.
const MinProgress = 1 << 20

// NewProgressBar is a progress bar drawn on w.
func NewProgressBar(w io.Writer) *ProgressBar {
	return &ProgressBar{w: w, now: time.Now}
}

// Update is an upload.Options.Progress function.
func (p *ProgressBar) Update(topic string, sent, total int64) {
	if total < MinProgress {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	done := sent >= total
	if topic != p.topic {
		if p.shown {
			fmt.Fprintln(p.w)
			p.shown = false
		}
		p.topic, p.last = topic, time.Time{}
	}
	if !done && p.now().Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = p.now()
	const width = 30
	filled := int(float64(width) * float64(sent) / float64(total))
	fmt.Fprintf(p.w, "\r%s [%s%s] %s / %s %3d%%", topic, strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		text.Bytes(sent), text.Bytes(total), sent*100/total)
	p.shown = !done
	if done {
		fmt.Fprintln(p.w)
		p.topic = ""
	}
}
