//go:build !((dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd)

package keys

// sessionBusMissing is a Secret Service concern; other systems' keyrings
// need no session bus.
func sessionBusMissing() error { return nil }
