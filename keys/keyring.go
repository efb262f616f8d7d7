package keys

import (
	"errors"
	"fmt"

	"github.com/zalando/go-keyring"
)

// Keyring is the part of an OS keyring otactl uses: one secret per service
// and user. Get and Delete return an error wrapping ErrNotFound when there is
// no such secret.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// ErrKeyringUnavailable is matched (errors.Is) by every error that means the
// OS keyring could not be reached or opened: no Secret Service, no session
// bus, a locked keyring whose unlock prompt was refused.
var ErrKeyringUnavailable = errors.New("keyring unavailable")

// ErrTooBig is wrapped when the OS keyring refuses a secret for its size.
var ErrTooBig = errors.New("secret too big for the keyring")

// unavailableHint names the ways to sign without a keyring.
const unavailableHint = "use a key file (--sign file:PATH) or an environment variable (--sign env:OTACTL_SIGNING_KEY)"

// UnavailableError is an OS keyring failure. It matches
// ErrKeyringUnavailable and carries a hint for the user.
type UnavailableError struct {
	Err error
}

func (e *UnavailableError) Error() string {
	if e.Err == nil {
		return "OS keyring unavailable"
	}
	return "OS keyring unavailable: " + e.Err.Error()
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrKeyringUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrKeyringUnavailable }

// Hint tells the user how to do without the keyring.
func (e *UnavailableError) Hint() string { return unavailableHint }

// SystemKeyring is the OS keyring through github.com/zalando/go-keyring:
// Secret Service on Linux, Keychain on macOS, Credential Manager on Windows.
// Its errors wrap ErrNotFound, ErrTooBig or ErrKeyringUnavailable.
func SystemKeyring() Keyring { return systemKeyring{} }

type systemKeyring struct{}

func (systemKeyring) Get(service, user string) (string, error) {
	if err := sessionBusMissing(); err != nil {
		return "", err
	}
	s, err := keyring.Get(service, user)
	return s, mapKeyringError(err)
}

func (systemKeyring) Set(service, user, secret string) error {
	if err := sessionBusMissing(); err != nil {
		return err
	}
	return mapKeyringError(keyring.Set(service, user, secret))
}

func (systemKeyring) Delete(service, user string) error {
	if err := sessionBusMissing(); err != nil {
		return err
	}
	return mapKeyringError(keyring.Delete(service, user))
}

// mapKeyringError turns go-keyring's errors into this package's: not found,
// too big, and everything else (D-Bus, Secret Service, Keychain, Credential
// Manager failures) as unavailable.
func mapKeyringError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return fmt.Errorf("%w: %v", ErrTooBig, err)
	default:
		return &UnavailableError{Err: err}
	}
}
