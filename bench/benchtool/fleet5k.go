package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// fleet5k: the same simulated fleet (`otactl simulate --devices 5000`)
// updated through `otactl broker` and through mosquitto, each broker
// started fresh for its run: time to all updated, the broker's memory per
// device (its peak RSS over the run less its RSS before any device
// connected, over the devices) and the simulator's. The target is the
// issue's: otactl broker's memory per device at most twice mosquitto's.
func (s *suite) fleet5k(ctx context.Context) (result, error) {
	if err := s.need(ctx, "simulate", "broker", "release publish", "rollout wait"); err != nil {
		return result{}, err
	}
	n := quickOr(s, 5000, 200)
	art, err := s.dataFile(ctx, "fleet-main.bin", 256*kib)
	if err != nil {
		return result{}, err
	}
	res := result{size: fmt.Sprintf("%d devices, 256 KiB", n), target: "2.00", runs: s.runsOr(1, 1)}
	var ob, mb, osim, msim []float64 // broker and simulator KiB per device, otactl broker and mosquitto
	for i := range res.runs {
		for _, side := range []string{"otactl", "mosquitto"} {
			r, err := s.fleetOn(ctx, side, i, n, art)
			if err != nil {
				return res, fmt.Errorf("%s broker: %w", side, err)
			}
			perDev, simPerDev := float64(r.brokerPeakKiB-r.brokerBaseKiB)/float64(n), float64(r.simPeakKiB)/float64(n)
			fmt.Fprintf(os.Stderr, "  run %d, %s broker: all %d updated %s after the publish; broker %.1f MiB at start, peak %.1f MiB (%.1f KiB a device); simulator peak %.1f MiB (%.1f KiB a device)\n",
				i+1, side, n, secs(r.wall), mib(r.brokerBaseKiB), mib(r.brokerPeakKiB), perDev, mib(r.simPeakKiB), simPerDev)
			if side == "otactl" {
				res.otactlRuns = append(res.otactlRuns, r.wall)
				res.peakMiB = max(res.peakMiB, mib(r.brokerPeakKiB))
				ob, osim = append(ob, perDev), append(osim, simPerDev)
			} else {
				res.refRuns = append(res.refRuns, r.wall)
				res.refPeakMiB = max(res.refPeakMiB, mib(r.brokerPeakKiB))
				mb, msim = append(mb, perDev), append(msim, simPerDev)
			}
		}
	}
	res.otactl, res.reference = median(res.otactlRuns), median(res.refRuns)
	res.ratio = medianF(ob) / medianF(mb)
	res.status = "ok"
	if res.ratio > 2 {
		res.status = "miss"
	}
	res.note = fmt.Sprintf("ratio and target: broker memory per device, otactl broker %.1f KiB against mosquitto %.1f KiB; seconds: publish to all updated; peaks are the brokers'; simulator %.1f and %.1f KiB a device",
		medianF(ob), medianF(mb), medianF(osim), medianF(msim))
	return res, nil
}

type brokerSample struct {
	fleetSample
	brokerBaseKiB, brokerPeakKiB int64
}

// fleetOn starts a fresh broker of side ("otactl" or "mosquitto"), runs
// the fleet against it and stops it.
func (s *suite) fleetOn(ctx context.Context, side string, i, n int, art string) (brokerSample, error) {
	var out brokerSample
	port, err := freePort()
	if err != nil {
		return out, err
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	argv := []string{s.otactl, "broker", "--listen", addr}
	if side == "mosquitto" {
		conf := filepath.Join(s.dir, "out", "fleet-mosquitto.conf")
		text := fmt.Sprintf("per_listener_settings false\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nlog_dest stderr\nlog_type error\nlistener %s 127.0.0.1\n", port)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return out, err
		}
		argv = []string{"mosquitto", "-c", conf}
	}
	logf, err := os.Create(filepath.Join(s.r.logDir, fmt.Sprintf("fleet5k-%s-%d-broker.log", side, i)))
	if err != nil {
		return out, err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = s.r.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return out, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	if err := waitBroker(ctx, addr); err != nil {
		return out, err
	}
	if out.brokerBaseKiB, err = procKiB(cmd.Process.Pid, "VmRSS"); err != nil {
		return out, err
	}
	if out.fleetSample, err = s.fleetRun(ctx, fleetSpec{prefix: fmt.Sprintf("bench-fleet5k-%s-%d/", side, i), run: i, devices: n, wait: 2 * time.Minute, host: "127.0.0.1", port: port}, art); err != nil {
		return out, err
	}
	out.brokerPeakKiB, err = procKiB(cmd.Process.Pid, "VmHWM")
	return out, err
}
