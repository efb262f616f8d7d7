//go:build !unix

package simulator

// CheckOpenFiles has nothing to check where there is no rlimit.
func CheckOpenFiles(int) error { return nil }
