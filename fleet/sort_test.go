package fleet

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortCandidatesIsCompareOrder: sortCandidates puts candidates in the
// order of compareCandidates, as a plain sort does, on ids that share long
// prefixes, differ past the key's 7 bytes, are prefixes of one another,
// hold zero and high bytes, and devices with several packages.
func TestSortCandidatesIsCompareOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	stems := []string{"", "a", "dev-", "dev-0000000", "dev-00000000", "dev-0000000\x00", "dev-\xff", "x"}
	pkgs := []string{"main", "modem", "a", "", "main2"}
	for round := range 50 {
		n := 1 + rng.IntN(400)
		prefix := []string{"", "fleet-", "acme/site-7/"}[round%3]
		rows := make([]candidate, n)
		for i := range rows {
			id := prefix + stems[rng.IntN(len(stems))]
			for range rng.IntN(12) {
				id += string(rune('0' + rng.IntN(3)))
			}
			rows[i] = candidate{id: id, pkg: pkgs[rng.IntN(len(pkgs))], status: RowStatus(rng.IntN(5))}
		}
		want := slices.Clone(rows)
		slices.SortStableFunc(want, func(a, b candidate) int { return compareCandidates(&a, &b) })
		got := slices.Clone(rows)
		sortCandidates(got)
		for i := range got {
			if compareCandidates(&got[i], &want[i]) != 0 {
				t.Fatalf("round %d: row %d is %v %q %q, want %v %q %q", round, i,
					got[i].status, got[i].id, got[i].pkg, want[i].status, want[i].id, want[i].pkg)
			}
		}
		if !slices.IsSortedFunc(got, func(a, b candidate) int { return compareCandidates(&a, &b) }) {
			t.Fatalf("round %d: not sorted", round)
		}
	}
}
