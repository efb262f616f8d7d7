package childproc

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// start runs script in sh and returns the process and a channel closed
// once it has been waited for.
func start(t *testing.T, script string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	return cmd, exited
}

func signalOf(t *testing.T, cmd *exec.Cmd) syscall.Signal {
	t.Helper()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		t.Fatalf("the process was not ended by a signal: %v", cmd.ProcessState)
	}
	return ws.Signal()
}

func TestEndSignals(t *testing.T) {
	cmd, exited := start(t, "exec sleep 60")
	begin := time.Now()
	End(cmd.Process, syscall.SIGTERM, exited, time.Minute)
	if got := signalOf(t, cmd); got != syscall.SIGTERM {
		t.Errorf("ended by %v, want SIGTERM", got)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("took %v to end a process that ends on SIGTERM", d)
	}
}

func TestEndKillsAfterGrace(t *testing.T) {
	cmd, exited := start(t, `trap "" TERM; while :; do sleep 1; done`)
	time.Sleep(200 * time.Millisecond) // let sh set the trap
	End(cmd.Process, syscall.SIGTERM, exited, 300*time.Millisecond)
	if got := signalOf(t, cmd); got != syscall.SIGKILL {
		t.Errorf("ended by %v, want SIGKILL after the grace period", got)
	}
}
