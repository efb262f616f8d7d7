package profile

import (
	"errors"
	"fmt"

	"github.com/otactl/otactl/internal/hint"
)

// Edit loads the config file, applies fn to the chosen profile (explicit,
// else OTACTL_PROFILE, else the current one) and saves the file. The
// profile must exist unless create is set; "default" always does. It
// returns the profile's name.
func Edit(getenv func(string) string, explicit string, create bool, fn func(p *Profile) error) (string, error) {
	path, f, err := LoadFile(getenv)
	if err != nil {
		return "", err
	}
	if explicit == "" {
		explicit = getenv("OTACTL_PROFILE")
	}
	name := f.Active(explicit)
	p, ok := f.Profiles[name]
	if !ok {
		// "default" always exists, with no settings until some are set.
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
