package output

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/release"
)

// WriteManifest prints a readable summary of m: sequence and the time it
// encodes, digest, expiry relative to now, components and signatures.
// Its tables fit width columns when width is above 0 (see Table.Width).
func WriteManifest(w io.Writer, m *release.Manifest, now time.Time, tty bool, width int) error {
	var b strings.Builder
	seqTime := time.Unix(m.SequenceNumber, 0).UTC().Format(time.RFC3339)
	fmt.Fprintf(&b, "sequence    %d (%s)\n", m.SequenceNumber, seqTime)
	fmt.Fprintf(&b, "digest      %s\n", m.Hash)
	if m.Hash != m.DigestHex() {
		fmt.Fprintf(&b, "            MISMATCH: the content digests to %s\n", m.DigestHex())
	}
	if exp, ok := m.ExpiresAt(); ok {
		fmt.Fprintf(&b, "expires     %s (%s)\n", m.Expires, relative(exp, now))
	} else {
		fmt.Fprintf(&b, "expires     never\n")
	}
	fmt.Fprintf(&b, "\ncomponents  %d\n", len(m.Components))
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	comps := Table{Header: []string{"PACKAGE", "VERSION", "SIZE", "TYPE", "SHA-256", "URI"}, Width: width, Optional: []string{"URI", "TYPE"}}
	for _, c := range m.Components {
		size := text.Bytes(c.Size)
		if !tty {
			size = strconv.FormatInt(c.Size, 10)
		}
		comps.Rows = append(comps.Rows, []string{c.Package, c.Version, size, text.Dash(c.Type), c.Hash, c.URI})
	}
	if err := comps.Write(w, tty); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "\nsignatures  %d\n", len(m.Signatures)); err != nil {
		return err
	}
	if len(m.Signatures) == 0 {
		return nil
	}
	sigs := Table{Header: []string{"KEY ID", "ALGORITHM"}, Width: width}
	for _, s := range m.Signatures {
		sigs.Rows = append(sigs.Rows, []string{s.KeyID, s.Alg})
	}
	return sigs.Write(w, tty)
}

// relative says how far t is from now in whole units: "in 29d", "3h ago".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	if d >= 0 {
		return "in " + shortAge(d)
	}
	return "expired " + shortAge(-d) + " ago"
}
