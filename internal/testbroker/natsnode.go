package testbroker

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/otactl/otactl/internal/childproc"
	"github.com/otactl/otactl/internal/syncbuf"
)

// NATSNode is one nats-server of a NATSCluster.
type NATSNode struct {
	// Name is the node's server_name (n1, n2, ...).
	Name string
	// URL is its MQTT listener, mqtt://127.0.0.1:PORT; Addr its host:port.
	URL, Addr string

	conf     string
	mqttPort int
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	log      syncbuf.Buffer
}

// start starts the node's process unless it runs, and waits until its MQTT
// port accepts connections.
func (n *NATSNode) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return nil
	}
	cmd := exec.Command(NATSPath(), "-c", n.conf)
	cmd.Stdout, cmd.Stderr = &n.log, &n.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nats-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	n.cmd, n.exited = cmd, exited
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := net.DialTimeout("tcp", n.Addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-exited:
			n.cmd = nil
			if strings.Contains(n.log.String(), "address already in use") {
				return fmt.Errorf("nats-server %s exited: %w: %s", n.Name, errNATSPortTaken, n.log.String())
			}
			return fmt.Errorf("nats-server %s exited: %s", n.Name, n.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server %s did not listen on %s: %s", n.Name, n.Addr, n.log.String())
		}
	}
}

// exitErr is an error once the node's process has exited.
func (n *NATSNode) exitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return errors.New("not running")
	}
	select {
	case <-n.exited:
		return fmt.Errorf("nats-server %s exited: %s", n.Name, n.log.String())
	default:
		return nil
	}
}

// Kill kills the node with SIGKILL, as a power cut would, and waits for it
// to be gone.
func (n *NATSNode) Kill() { n.signal(syscall.SIGKILL) }

func (n *NATSNode) signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if cmd := n.cmd; cmd != nil {
		n.cmd = nil
		// A node that does not end within 30 s is killed.
		childproc.End(cmd.Process, sig, n.exited, 30*time.Second)
	}
}

// Log is what the node printed so far.
func (n *NATSNode) Log() string { return n.log.String() }

// isPortTaken says whether err is a node's start that failed on a port
// taken meanwhile (by a test running in parallel).
func isPortTaken(err error) bool { return errors.Is(err, errNATSPortTaken) }

var errNATSPortTaken = errors.New("port taken")
