package fleet

// What the external tests (package fleet_test) look at inside.

// Classify is classify.
var Classify = classify

// MaxInterned is maxInterned.
const MaxInterned = maxInterned

// InternedLen is the size of f's table of shared names.
func InternedLen(f *Fleet) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.strs)
}
