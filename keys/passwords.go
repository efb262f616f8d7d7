package keys

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Login names a broker password stored in the keyring.
type Login struct {
	Broker   string `json:"broker"`
	Username string `json:"username"`
}

// passwordUser is the keyring user of a broker password:
// "password:USER@BROKER", with '%' and '@' in USER percent-encoded so that
// the first '@' always ends the user name.
func passwordUser(broker, username string) string {
	u := strings.NewReplacer("%", "%25", "@", "%40").Replace(username)
	return passwordPrefx + u + "@" + broker
}

func checkLogin(broker, username string) error {
	switch {
	case broker == "":
		return errors.New("broker is empty")
	case username == "":
		return errors.New("username is empty")
	case strings.ContainsAny(broker+username, "\x00\n\r"):
		return errors.New("broker or username holds a control character")
	}
	return nil
}

// SetPassword stores the password of username on broker, replacing any
// earlier one.
func (s *Store) SetPassword(broker, username, password string) error {
	if err := checkLogin(broker, username); err != nil {
		return err
	}
	if password == "" {
		return errors.New("password is empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	logins, err := s.readLogins()
	if err != nil {
		return err
	}
	if err := s.kr.Set(s.service, passwordUser(broker, username), password); err != nil {
		return fmt.Errorf("store password for %s on %s: %w", username, broker, err)
	}
	l := Login{Broker: broker, Username: username}
	if !slices.Contains(logins, l) {
		return s.writeLogins(append(logins, l))
	}
	return nil
}

// Password returns the stored password of username on broker, or an error
// wrapping ErrNotFound.
func (s *Store) Password(broker, username string) (string, error) {
	if err := checkLogin(broker, username); err != nil {
		return "", err
	}
	p, err := s.kr.Get(s.service, passwordUser(broker, username))
	if errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("password for %s on %s %w", username, broker, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("read password for %s on %s: %w", username, broker, err)
	}
	return p, nil
}

// DeletePassword removes the stored password of username on broker; one
// that is not there gives an error wrapping ErrNotFound.
func (s *Store) DeletePassword(broker, username string) error {
	if err := checkLogin(broker, username); err != nil {
		return err
	}
	return deleteListed(s, passwordUser(broker, username), "password for "+username+" on "+broker,
		Login{Broker: broker, Username: username}, s.readLogins, s.writeLogins)
}

// Logins lists the brokers and usernames with a stored password, sorted by
// broker then username. A login whose password is gone from the keyring is
// left out.
func (s *Store) Logins() ([]Login, error) {
	return present(s, s.readLogins, func(l Login) (Login, error) {
		if _, err := s.kr.Get(s.service, passwordUser(l.Broker, l.Username)); err != nil {
			return l, fmt.Errorf("read password for %s on %s: %w", l.Username, l.Broker, err)
		}
		return l, nil
	})
}

type loginIndex struct {
	Logins []Login `json:"logins"`
}

func (s *Store) readLogins() (l []Login, err error) {
	err = s.readIndexEntry(loginsUser, "login index", func(b []byte) (err error) {
		l, err = decodeLogins(b)
		return err
	})
	return l, err
}

// decodeLogins parses the login index entry, sorted and without
// duplicates or invalid entries.
func decodeLogins(b []byte) ([]Login, error) {
	var li loginIndex
	if err := json.Unmarshal(b, &li); err != nil {
		return nil, err
	}
	l := slices.DeleteFunc(li.Logins, func(l Login) bool { return checkLogin(l.Broker, l.Username) != nil })
	sortLogins(l)
	return slices.Compact(l), nil
}

func sortLogins(l []Login) {
	slices.SortFunc(l, func(a, b Login) int {
		if c := strings.Compare(a.Broker, b.Broker); c != 0 {
			return c
		}
		return strings.Compare(a.Username, b.Username)
	})
}

func (s *Store) writeLogins(l []Login) error {
	sortLogins(l)
	l = slices.Compact(l)
	return s.writeIndexEntry(loginsUser, "login index", loginIndex{Logins: l}, len(l) == 0)
}
