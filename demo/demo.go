// Package demo builds the world 'otactl demo' shows a rollout in: a
// broker of its own on loopback, a signing key for one run, a firmware
// image, a simulated fleet that trusts the key, and a signed release. Each
// step is a function of its own; it prints nothing, and the command says
// what each step did.
package demo

import (
	"context"
	"crypto"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/simulator"
	"github.com/otactl/otactl/upload"
)

// What the demo releases, to whom.
const (
	Package     = "main"
	OldVersion  = "1.0.0"
	NewVersion  = "1.1.0"
	IDPrefix    = "demo-"
	CanaryShare = 10 // percent
	imageBody   = 48 << 10
)

// Lab is a running demo. Close ends it and removes everything it made.
type Lab struct {
	Dir     string
	Broker  *broker.Broker
	Signer  crypto.Signer
	KeyID   string
	KeyFile string // the private key, PEM
	Image   string // the firmware image file
	Fleet   *simulator.Fleet

	stopFleet context.CancelFunc
	fleetDone chan struct{}
	fleetErr  error
}

// Open makes the lab's folder and starts its broker on a free loopback
// port, keeping retained messages in the folder.
func Open(ctx context.Context) (*Lab, error) {
	dir, err := os.MkdirTemp("", "otactl-demo-")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	l := &Lab{Dir: dir}
	if l.Broker, err = broker.Start(ctx, broker.Config{Listen: "127.0.0.1:0", DataDir: l.BrokerData()}); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// BrokerData is the folder the broker keeps retained messages in.
func (l *Lab) BrokerData() string { return filepath.Join(l.Dir, "broker") }

// Dial connects to the lab's broker.
func (l *Lab) Dial(ctx context.Context) (*upload.Client, error) {
	return upload.Connect(ctx, upload.Options{Broker: l.Broker.URL()})
}

// MakeKey makes a signing key for this run only (a file in the lab, never
// the keyring), its public key file, and a firmware image whose MCUboot
// header says NewVersion.
func (l *Lab) MakeKey() error {
	signer, err := keys.GenerateKey(keys.AlgEd25519)
	if err != nil {
		return err
	}
	pemBytes, err := keys.MarshalPrivatePEM(signer)
	if err != nil {
		return err
	}
	pubPEM, err := keys.ExportPublic(signer.Public(), "pem", "demo")
	if err != nil {
		return err
	}
	if l.KeyID, err = release.KeyID(signer.Public()); err != nil {
		return err
	}
	l.Signer = signer
	l.KeyFile = filepath.Join(l.Dir, "demo-key.pem")
	l.Image = filepath.Join(l.Dir, "zephyr.signed.bin")
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{l.KeyFile, pemBytes, 0o600},
		{filepath.Join(l.Dir, "demo-key.pub.pem"), pubPEM, 0o644},
		{l.Image, Image(), 0o644},
	} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	return nil
}

// StartFleet starts devices simulated devices on OldVersion that trust the
// lab's key, with the failures injected as seed draws them, and returns
// once every one is connected.
func (l *Lab) StartFleet(ctx context.Context, devices int, failures simulator.Failures, seed int64, now func() time.Time) error {
	sim, err := simulator.New(simulator.Config{
		Conn:     upload.Options{Broker: l.Broker.URL()},
		Devices:  devices,
		IDPrefix: IDPrefix,
		Package:  Package,
		Version:  OldVersion,
		Keys:     []crypto.PublicKey{l.Signer.Public()},
		Failures: failures,
		Jitter:   time.Second,
		Reboot:   500 * time.Millisecond,
		Encoding: "mixed",
		KeyNames: "mixed",
		Seed:     seed,
		Now:      now,
	})
	if err != nil {
		return err
	}
	l.Fleet = sim
	fleetCtx, stop := context.WithCancel(ctx)
	l.stopFleet, l.fleetDone = stop, make(chan struct{})
	go func() {
		l.fleetErr = sim.Run(fleetCtx)
		close(l.fleetDone)
	}()
	select {
	case <-sim.Ready():
		return nil
	case <-l.fleetDone:
		if l.fleetErr == nil {
			return ctx.Err()
		}
		return fmt.Errorf("demo: the simulated fleet stopped: %w", l.fleetErr)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IDs are the simulated devices' ids.
func (l *Lab) IDs() []string {
	ids := make([]string, 0, len(l.Fleet.Devices()))
	for _, d := range l.Fleet.Devices() {
		ids = append(ids, d.ID)
	}
	return ids
}

// Release creates the release of the lab's image, whose version comes from
// its MCUboot header, expiring in a day, and signs it with the lab's key.
// It returns the manifest, its JSON and the warnings of release.Create.
func (l *Lab) Release(ctx context.Context, now time.Time) (*release.Manifest, []byte, []string, error) {
	return l.releaseOf(ctx, l.Image, now)
}

// PreviousRelease is the release of OldVersion, what the fleet runs, made
// a second before now (so its sequence number is lower than Release's):
// the release a failed stage of the demo's rollout restores. Its image is
// a file of the lab.
func (l *Lab) PreviousRelease(ctx context.Context, now time.Time) (m *release.Manifest, payload []byte, image string, err error) {
	image = filepath.Join(l.Dir, "zephyr-"+OldVersion+".signed.bin")
	if err := os.WriteFile(image, imageOf(1, 0), 0o644); err != nil {
		return nil, nil, "", fmt.Errorf("demo: %w", err)
	}
	m, payload, _, err = l.releaseOf(ctx, image, now.Add(-time.Second))
	return m, payload, image, err
}

func (l *Lab) releaseOf(ctx context.Context, image string, now time.Time) (*release.Manifest, []byte, []string, error) {
	m, warnings, err := release.Create(ctx, release.CreateOptions{
		Specs:       []release.Spec{{Package: Package, Path: image}},
		DefaultType: "mcuboot",
		Now:         now,
		Expires:     "24h",
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if err := m.Sign(l.Signer); err != nil {
		return nil, nil, nil, err
	}
	payload, err := release.EncodeJSON(m)
	if err != nil {
		return nil, nil, nil, err
	}
	return m, payload, warnings, nil
}

// Close stops the fleet and the broker and removes the lab's folder.
func (l *Lab) Close() {
	if l.stopFleet != nil {
		l.stopFleet()
		<-l.fleetDone
	}
	if l.Broker != nil {
		l.Broker.Close()
	}
	os.RemoveAll(l.Dir)
}

// Canary are the ids the rollout's first stage, CanaryShare percent,
// chooses: the stable hash of 'release publish --percent'.
func Canary(ids []string) []string {
	var out []string
	for _, id := range ids {
		if publish.PercentChosen(id, CanaryShare) {
			out = append(out, id)
		}
	}
	return out
}

// KeepNote says how to reach a lab left running: the broker, and the key
// to publish another release with.
func (l *Lab) KeepNote() (string, error) {
	host, port, err := net.SplitHostPort(l.Broker.Addr())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`
The broker and the simulated devices keep running until Ctrl-C.
  export OTACTL_BROKER=%s
  otactl watch
  otactl release list
  mosquitto_sub -h %s -p %s -t 'devices/+/.u/c/+' -v
  mosquitto_sub -h %s -p %s -t '.u/desired' -C 1
The signing key is %s: create and publish another release with
  otactl release create -c main@1.2.0=FILE --sign file:%s --out r.json
  otactl release publish r.json FILE
`, l.Broker.URL(), host, port, host, port, l.KeyFile, l.KeyFile), nil
}

// Image is a small firmware image: an MCUboot header saying NewVersion and
// a body of fixed pseudo-random bytes.
func Image() []byte { return imageOf(1, 1) }

// imageOf is an image whose header says major.minor.0.
func imageOf(major, minor uint8) []byte {
	hdr := release.EncodeImageHeader(release.ImageHeader{
		HeaderSize: release.ImageHeaderSize,
		ImageSize:  imageBody,
		Major:      major, Minor: minor, Revision: 0,
	})
	img := make([]byte, 0, len(hdr)+imageBody)
	img = append(img, hdr...)
	r := rand.New(rand.NewPCG(1, 1))
	for len(img) < cap(img) {
		img = append(img, byte(r.Uint32()))
	}
	return img
}
