package commands

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// TestStdinEndsWithContext: standard input read through a System made by
// withContext passes data through, and a read that blocks (a pipe nobody
// writes to) returns the context's error when it ends.
func TestStdinEndsWithContext(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	sys := (&System{Stdin: pr}).withContext(ctx)
	if f, ok := sys.stdinFile(); !ok || f != pr {
		t.Fatalf("stdinFile = %v, %v: want the pipe", f, ok)
	}
	if _, err := pw.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := sys.Stdin.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(sys.Stdin)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("read after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read still blocks after the context ended")
	}
}

// TestExitCodeAfterSignal: once main's context is cancelled (SIGINT or
// SIGTERM), any failure exits 130, whatever error it comes as, except a
// failure of the stop that followed (the broker's data folder would not
// close), which exits 1.
func TestExitCodeAfterSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	lost := errors.New("connection to the broker lost: EOF")
	if got := exitCode(ctx, lost); got != ExitError {
		t.Fatalf("before the signal: exit %d, want 1", got)
	}
	cancel()
	for _, err := range []error{lost, context.Canceled, withExitCode(ExitTimeout, lost)} {
		if got := exitCode(ctx, err); got != ExitInterrupted {
			t.Errorf("%v after the signal: exit %d, want 130", err, got)
		}
	}
	if got := exitCode(ctx, nil); got != ExitOK {
		t.Errorf("success after the signal: exit %d, want 0", got)
	}
	stop := failedAfterInterrupt(errors.New("broker: interrupted, then the stop failed: close the data folder: EIO"))
	for _, err := range []error{stop, withHint(stop, "check the data folder")} {
		if got := exitCode(ctx, err); got != ExitError {
			t.Errorf("%v after the signal: exit %d, want 1", err, got)
		}
	}
}
