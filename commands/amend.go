package commands

import (
	"fmt"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/release"
)

// openAmend reads the manifest a command adds signatures to, and checks
// where it is to be written: MANIFEST itself in place, or out ("-" for
// standard output).
func openAmend(sys *System, file, outPath string) (*release.Manifest, outFile, error) {
	m, err := loadManifest(sys, file)
	if err != nil {
		return nil, outFile{}, err
	}
	out := outFile{Flag: "--out", Path: outPath, Dash: true}
	if outPath == "" {
		out = outFile{Path: file}
	}
	if out.Path != "-" {
		if err := out.check(); err != nil {
			return nil, outFile{}, err
		}
	}
	return m, out, nil
}

// amendment is the work of a command that adds signatures to a manifest
// file (release sign, release attach): File is rewritten atomically in
// place, or written to Out ("-" for standard output).
type amendment struct {
	Verb      string // "sign", "attach to": what messages start with
	File, Out string
	Strict    *strictOption
}

// run opens the manifest and checks where it goes; runs prepare (keys and
// inputs, resolved before anything is signed); picks strict mode; has
// adjust (when not nil) change the manifest before it is checked as
// signable (checkSignable); has sign add the signatures and say what was
// done; and writes the manifest. Nothing is written when any step fails.
func (a amendment) run(sys *System, prepare func() error, adjust func(*release.Manifest) error, sign func(*release.Manifest) (string, error)) error {
	m, out, err := openAmend(sys, a.File, a.Out)
	if err != nil {
		return err
	}
	if err := prepare(); err != nil {
		return err
	}
	strict, err := a.Strict.resolve(sys, nil)
	if err != nil {
		return err
	}
	if adjust != nil {
		if err := adjust(m); err != nil {
			return err
		}
	}
	if err := checkSignable(sys, m, a.Verb, a.File, strict); err != nil {
		return err
	}
	done, err := sign(m)
	if err != nil {
		return fmt.Errorf("%s %s: %w", a.Verb, a.File, err)
	}
	return writeAmended(sys, m, out, done)
}

// checkSignable refuses to sign (verb) a manifest that was changed after
// it was sealed or has expired (exit 3) or, with strict, that the device-compatibility lint finds anything
// about; the lint's findings are warnings otherwise.
func checkSignable(sys *System, m *release.Manifest, verb, file string, strict bool) error {
	if err := m.CheckSealed(); err != nil {
		return fmt.Errorf("%s %s: %w", verb, file, err)
	}
	if err := m.CheckNotExpired(sys.Now()); err != nil {
		return withHint(fmt.Errorf("%s %s: %w: not signing a release devices would refuse", verb, file, err),
			"give it a new expiry with --expires 720h of 'otactl release sign' (this drops its signatures), or make a new release with 'otactl release create'")
	}
	findings, err := release.LintStrict(m, strict)
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, file, err)
	}
	for _, f := range findings {
		fmt.Fprintln(sys.Stderr, "warning: "+f.String())
	}
	return nil
}

// writeAmended writes the signed manifest m to out atomically, or to
// standard output, and says what was done (done: "signed") on stderr.
func writeAmended(sys *System, m *release.Manifest, out outFile, done string) error {
	data, err := release.EncodeJSON(m)
	if err != nil {
		return err
	}
	if out.Path == "-" {
		_, err = sys.Stdout.Write(data)
		return err
	}
	if err := out.write(data); err != nil {
		return err
	}
	fmt.Fprintf(sys.Stderr, "%s %s: %s\n", done, out.Path, text.Plural(len(m.Signatures), "signature"))
	return nil
}
