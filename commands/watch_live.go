package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/syncbuf"
	"github.com/otactl/otactl/output"
)

// The live view redraws at most every minRedraw, and backs off up to
// maxRedraw when drawing a view takes long (a huge fleet on a slow
// machine): the next redraw waits four times what the last one took.
const (
	minRedraw = 250 * time.Millisecond
	maxRedraw = 5 * time.Second
)

// liveModel is the live table as a bubbletea model. bubbletea owns the
// terminal: the alternate screen, the hidden cursor, raw mode for the
// keyboard, resizes (SIGWINCH), and putting everything back however the
// program ends, panics included. The model only draws frames of the fleet
// on its own ticker, whatever the rate of reports.
type liveModel struct {
	fleet    *fleet.Fleet
	filter   fleet.Filter
	renderer *lipgloss.Renderer
	title    func() string
	width    int
	height   int
	frame    string
	interval time.Duration
	// clock measures how long a redraw takes; it is the wall clock, not
	// the fleet's.
	clock func() time.Time
	// quit says how the view ended: by the user (q), or because the
	// stream of reports ended with err.
	err error
}

type redrawMsg struct{}

// streamEndedMsg ends the view: the subscription ended, with err.
type streamEndedMsg struct{ err error }

func (m *liveModel) Init() tea.Cmd {
	return func() tea.Msg { return redrawMsg{} }
}

func (m *liveModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		// Drawn at the next tick: resizes come in storms.
		m.width, m.height = msg.Width, msg.Height
	case tea.KeyMsg:
		switch msg.String() {
		case "q", "Q", "esc":
			return m, tea.Quit
		case "ctrl+c":
			return m, tea.Interrupt
		}
	case redrawMsg:
		m.redraw()
		return m, tea.Tick(m.interval, func(time.Time) tea.Msg { return redrawMsg{} })
	case streamEndedMsg:
		m.err = msg.err
		return m, tea.Quit
	}
	return m, nil
}

// redraw renders the fleet into a frame of the terminal's size and sets
// the interval to the next redraw.
func (m *liveModel) redraw() {
	start := m.clock()
	height := m.height
	v := m.fleet.View(m.filter, max(height, 1))
	m.frame = output.RenderFrame(v, output.FrameOptions{
		Width:    m.width,
		Height:   height,
		Renderer: m.renderer,
		Title:    m.title(),
	})
	took := m.clock().Sub(start)
	m.interval = min(max(4*took, minRedraw), maxRedraw)
}

func (m *liveModel) View() string { return m.frame }

// watchLive shows the live table on the terminal (stderr, which holds
// the frame) until the user leaves or the subscription ends.
func watchLive(parent context.Context, sys *System, opts *watchOptions, src *fleet.Source, flt fleet.Filter) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	width, height := terminalSize(sys.Stderr)
	filters := opts.Filters.describe()
	model := &liveModel{
		fleet:    src.Fleet(),
		filter:   flt,
		renderer: lipgloss.NewRenderer(sys.Stderr),
		width:    width,
		height:   height,
		interval: minRedraw,
		clock:    time.Now,
		title: func() string {
			t := "otactl watch · " + src.Broker()
			if filters != "" {
				t += " · " + filters
			}
			return t + " · " + sys.Now().Format("15:04:05") + " · q quits"
		},
	}
	progOpts := []tea.ProgramOption{
		// SIGINT and SIGTERM end ctx (see main.go), which ends the
		// subscription, whose end quits the program the way q does (a
		// program killed through tea.WithContext races its own keyboard
		// reader). bubbletea's own handler would turn SIGTERM into a quiet
		// quit, as if the user had pressed q.
		tea.WithoutSignalHandler(),
		tea.WithOutput(sys.Stderr),
		tea.WithAltScreen(),
		tea.WithoutBracketedPaste(),
	}
	if sys.StdinTTY {
		progOpts = append(progOpts, tea.WithInput(sys.stdinReader()))
	} else {
		// No keyboard: Ctrl-C still interrupts, as a signal (the
		// terminal stays in line mode).
		progOpts = append(progOpts, tea.WithInput(nil))
	}
	p := tea.NewProgram(model, progOpts...)

	// The screen is the program's: warnings wait until it is given back.
	var held syncbuf.Buffer
	src.SetWarnings(&held)
	defer func() {
		src.SetWarnings(sys.Stderr)
		_, _ = io.WriteString(sys.Stderr, held.String())
	}()

	followed := make(chan struct{})
	go func() {
		defer close(followed)
		var err error
		defer func() {
			// The terminal is the program's until Run returns: a panic
			// here must end the program, not the process.
			if r := recover(); r != nil {
				err = fmt.Errorf("internal error: %v\n%s", r, debug.Stack())
			}
			p.Send(streamEndedMsg{err})
		}()
		err = src.Follow(ctx, nil, nil)
	}()

	_, err := p.Run()
	cancel()
	<-followed
	return liveResult(parent, err, model.err)
}

// liveResult turns how the live view ended into the command's error: the
// user left (q: nil; Ctrl-C: interrupted), the command was interrupted
// or terminated (parent ended), the view crashed, or the subscription
// ended.
func liveResult(parent context.Context, runErr, streamErr error) error {
	switch {
	case errors.Is(runErr, tea.ErrInterrupted):
		return withExitCode(ExitInterrupted, errors.New("interrupted"))
	case parent.Err() != nil:
		return parent.Err()
	case errors.Is(runErr, tea.ErrProgramPanic):
		return errors.New("the live view crashed (the terminal was restored)")
	case runErr != nil:
		return fmt.Errorf("live view: %w", runErr)
	case streamErr != nil && !errors.Is(streamErr, context.Canceled):
		return fmt.Errorf("watch: %w", streamErr)
	}
	return nil
}
