package text

import (
	"fmt"
	"slices"
	"strings"
)

// Nearest is the candidate closest to word (edit distance, a swap of two
// neighbours counting once, case ignored) when it is close enough to be a
// typo of it, else the only candidate that word begins, else "".
func Nearest(word string, candidates []string) string {
	w := strings.ToLower(word)
	best, bestD := "", 3
	var prefixed []string
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if d := EditDistance(w, lc); d < bestD && 2*d <= len(lc) {
			best, bestD = c, d
		}
		if len(w) >= 2 && strings.HasPrefix(lc, w) && !slices.Contains(prefixed, c) {
			prefixed = append(prefixed, c)
		}
	}
	if best != "" {
		return best
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	return ""
}

// EditDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and swaps of neighbours.
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// MaxShownWord is the longest word a usage error repeats. Command and flag
// names are short; a longer word is more likely something pasted in the
// wrong place (a key, a password), so it is described, not shown.
const MaxShownWord = 24

// PlainWord reports whether s can be repeated in a message: short, and
// only letters, digits and . _ : - (no key material, no spaces).
func PlainWord(s string) bool {
	if s == "" || len(s) > MaxShownWord {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// PlainText reports whether a library message holds nothing but short
// plain words, so that repeating it cannot leak what the user typed.
func PlainText(s string) bool {
	for _, w := range strings.Fields(s) {
		w = strings.Trim(w, `"'(),;`)
		if len(w) > MaxShownWord || strings.ContainsAny(w, "+/=") {
			return false
		}
	}
	return len(s) <= 200 && !strings.ContainsAny(s, "\n\r")
}

// ShowWord quotes a word the user typed, or describes it when it is not a
// plain word.
func ShowWord(s string) string {
	if PlainWord(s) {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("(a %d-character word, not shown)", len(s))
}
