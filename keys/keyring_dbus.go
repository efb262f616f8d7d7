//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package keys

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// sessionBusMissing reports a missing D-Bus session bus before go-keyring
// looks for one: where none is found, godbus would run dbus-launch, which
// starts a bus daemon (and then a keyring daemon) that outlives otactl, which
// is the wrong thing to do on a CI runner or over ssh.
func sessionBusMissing() error {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return nil
	}
	dir := fmt.Sprintf("/run/user/%d", os.Getuid())
	for _, f := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return nil
		}
	}
	return &UnavailableError{Err: errors.New("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)")}
}
