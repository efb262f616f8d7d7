package profile

import (
	"errors"
	"fmt"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/keys"
)

// Edit loads the config file, applies fn to the chosen profile (explicit,
// else OTACTL_PROFILE, else the current one) and saves the file. The
// profile must exist unless create is set; "default" always does; one
// named by the flag (explicit) that does not is a FlagError. It returns the
// profile's name.
func Edit(getenv func(string) string, explicit string, create bool, fn func(p *Profile) error) (string, error) {
	path, f, err := LoadFile(getenv)
	if err != nil {
		return "", err
	}
	fromFlag := explicit != ""
	if explicit == "" {
		explicit = getenv("OTACTL_PROFILE")
	}
	name := f.Active(explicit)
	p, ok := f.Profiles[name]
	if !ok {
		// "default" always exists, with no settings until some are set.
		if !create && name != DefaultName && fromFlag {
			return "", &FlagError{Err: &notFoundError{name: name, path: path}}
		}
		if !create && name != DefaultName {
			return "", &notFoundError{name: name, path: path}
		}
		if p, err = f.Ensure(name); err != nil {
			return "", &FlagError{Err: err}
		}
	}
	if err := fn(p); err != nil {
		return "", err
	}
	return name, f.Save(path)
}

// Use makes the profile name the one used by default.
func Use(getenv func(string) string, name string) error {
	path, f, err := loadExisting(getenv, name)
	var nf *notFoundError
	if errors.As(err, &nf) {
		return hint.Wrap(err, "create it with 'otactl config set broker URL --profile "+name+"'")
	}
	if err != nil {
		return err
	}
	f.Current = name
	if name == DefaultName {
		f.Current = "" // the file's way to say "default"
	}
	return f.Save(path)
}

// Delete deletes the profile name. Deleting "default" clears its
// settings; it still exists.
func Delete(getenv func(string) string, name string) error {
	path, f, err := loadExisting(getenv, name)
	if err != nil {
		return err
	}
	delete(f.Profiles, name)
	if f.Current == name {
		f.Current = ""
	}
	return f.Save(path)
}

// loadExisting loads the config file, which must hold the profile name.
func loadExisting(getenv func(string) string, name string) (string, *File, error) {
	path, f, err := LoadFile(getenv)
	if err != nil {
		return "", nil, err
	}
	if _, ok := f.Get(name); !ok {
		return "", nil, &notFoundError{name: name, path: path}
	}
	return path, f, nil
}

// notFoundError is a profile the config file does not hold.
type notFoundError struct{ name, path string }

func (e *notFoundError) Error() string {
	return fmt.Sprintf("profile %q does not exist in %s", e.name, e.path)
}

// secretSettings are setting names someone might try to keep a secret
// under; the config file holds none.
var secretSettings = map[string]bool{
	"password": true, "passwd": true, "secret": true, "token": true,
	"private-key": true, "signing-key": true, "sign": true,
}

// RefuseSecret refuses to put a secret into the config file: a
// password-like setting name, or a value that looks like key material. The
// value is never shown.
func RefuseSecret(key, value string) error {
	if secretSettings[key] {
		return hint.Wrap(fmt.Errorf("config set %s: the config file holds no secrets", key),
			"store a broker password with 'otactl login' (or give OTACTL_PASSWORD or --password-stdin); keep signing keys in the OS keyring, a file (file:PATH) or an environment variable (env:VAR)")
	}
	if keys.PastedForPath(value) {
		return hint.Wrap(fmt.Errorf("config set %s: the value looks like key material; the config file holds no secrets", keys.ShowValue(key)),
			"for a trusted key give its public key file (config set pubkey FILE) or keyring NAME")
	}
	return nil
}
