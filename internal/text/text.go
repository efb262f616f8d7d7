// Package text holds the small helpers that shape words for messages and
// tables: plurals, dashes for empty cells, one-line and terminal-safe text,
// words safe to repeat in an error, and the nearest word for "did you
// mean".
package text

import (
	"strconv"
	"strings"
	"unicode"
)

// Dash is s, or "-" when s is empty: an empty cell or field that must
// still be seen.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Plural is n and word, with an "s" unless n is 1: "1 device", "3 devices".
func Plural(n int, word string) string {
	return strconv.Itoa(n) + " " + PluralWord(n, word)
}

// PluralWord is word, with an "s" unless n is 1.
func PluralWord(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// Printable is s with everything a terminal would act on (escape
// sequences, control and format characters) replaced by '?'.
func Printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strings.Map(func(r rune) rune {
				if unicode.IsPrint(r) {
					return r
				}
				return '?'
			}, s)
		}
	}
	return s
}

// OneLine is s on one line: every run of white space, line breaks
// included, becomes one space, and none is left at either end.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// FirstLine is s up to its first line break.
func FirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// LowerFirst is s with its first byte in lower case: a library's message
// ("Required flag ...") made to start the way otactl's do.
func LowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
