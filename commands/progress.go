package commands

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/otactl/otactl/output"
)

// progressBar draws the progress of large publishes on a terminal's
// stderr, at most ten times a second, and ends the line when one is done.
type progressBar struct {
	w     io.Writer
	now   func() time.Time
	mu    sync.Mutex
	last  time.Time
	topic string
	shown bool
}

// minProgress is the smallest publish that gets a bar.
const minProgress = 1 << 20

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, now: time.Now}
}

// update is an upload.Options.Progress function.
func (p *progressBar) update(topic string, sent, total int64) {
	if total < minProgress {
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
		output.HumanBytes(sent), output.HumanBytes(total), sent*100/total)
	p.shown = !done
	if done {
		fmt.Fprintln(p.w)
		p.topic = ""
	}
}
