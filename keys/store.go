package keys

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/otactl/otactl/release"
)

// Keyring entries under Service. go-keyring cannot list a service's
// entries, so the names of stored keys and logins are kept in index entries
// of their own.
const (
	indexUser     = "index"     // JSON {"keys": [names]}
	loginsUser    = "logins"    // JSON {"logins": [{"broker", "username"}]}
	keyPrefix     = "key:"      // + NAME: PKCS#8 PEM private key
	passwordPrefx = "password:" // + USER@BROKER: broker password
)

// errDamaged is wrapped when an index entry does not decode.
var errDamaged = errors.New("is damaged")

// Store keeps signing keys and broker passwords in a Keyring.
type Store struct {
	kr      Keyring
	service string     // Service; tests on a real keyring use their own
	mu      sync.Mutex // serialises index updates within this process
}

// NewStore returns a Store over kr, usually SystemKeyring().
func NewStore(kr Keyring) *Store { return &Store{kr: kr, service: Service} }

// Generate makes a new key named name with alg "ed25519" (also when empty)
// or "ecdsa-p256", stores it and returns its description. It refuses a name
// that is already taken.
func (s *Store) Generate(name, alg string) (Info, error) {
	if err := ValidateKeyName(name); err != nil {
		return Info{}, err
	}
	k, err := GenerateKey(alg)
	if err != nil {
		return Info{}, err
	}
	return s.add(name, k)
}

// Import stores the private key in pemBytes under name: PKCS#8 "PRIVATE
// KEY" (ed25519 or ECDSA P-256, as `openssl genpkey` writes) or SEC1 "EC
// PRIVATE KEY" (P-256, as `openssl ecparam -genkey` writes). The key is
// stored as PKCS#8 whatever form it came in. It refuses a name that is
// already taken.
func (s *Store) Import(name string, pemBytes []byte) (Info, error) {
	if err := ValidateKeyName(name); err != nil {
		return Info{}, err
	}
	k, err := ParsePrivatePEM(pemBytes)
	if err != nil {
		return Info{}, fmt.Errorf("import key %s: %w", quoteName(name), err)
	}
	return s.add(name, k)
}

func (s *Store) add(name string, k crypto.Signer) (Info, error) {
	info, err := Describe(name, k.Public())
	if err != nil {
		return Info{}, err
	}
	p, err := MarshalPrivatePEM(k)
	if err != nil {
		return Info{}, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	keys, err := s.readIndex()
	if err != nil {
		return Info{}, err
	}
	switch _, err := s.kr.Get(s.service, keyPrefix+name); {
	case err == nil:
		if !slices.Contains(keys, name) {
			// Stored but unlisted (an index update was lost): list it.
			_ = s.writeIndex(append(keys, name))
		}
		return Info{}, fmt.Errorf("key %s %w", quoteName(name), ErrExists)
	case !errors.Is(err, ErrNotFound):
		return Info{}, fmt.Errorf("look up key %s: %w", quoteName(name), err)
	}
	if err := s.kr.Set(s.service, keyPrefix+name, string(p)); err != nil {
		return Info{}, fmt.Errorf("store key %s: %w", quoteName(name), err)
	}
	if !slices.Contains(keys, name) {
		if err := s.writeIndex(append(keys, name)); err != nil {
			// A key the index does not name cannot be listed: take it back.
			_ = s.kr.Delete(s.service, keyPrefix+name)
			return Info{}, err
		}
	}
	return info, nil
}

// List describes the stored keys, sorted by name. A name in the index whose
// key is gone from the keyring (deleted by another tool) is left out.
func (s *Store) List() ([]Info, error) {
	return present(s, s.readIndex, func(name string) (Info, error) {
		k, err := s.Signer(name)
		if err != nil {
			return Info{}, err
		}
		return Describe(name, k.Public())
	})
}

// present is what get gives for each item of the index read lists,
// leaving out the items whose keyring entry is gone (deleted by another
// tool: get's error wraps ErrNotFound).
func present[T, R any](s *Store, read func() ([]T, error), get func(T) (R, error)) ([]R, error) {
	s.mu.Lock()
	items, err := read()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := []R{}
	for _, it := range items {
		r, err := get(it)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Delete removes the key name from the keyring and the index. A key that is
// not there gives an error wrapping ErrNotFound (after dropping the name from
// the index, should it still be listed there).
func (s *Store) Delete(name string) error {
	if err := ValidateKeyName(name); err != nil {
		return err
	}
	return deleteListed(s, keyPrefix+name, "key "+quoteName(name), name, s.readIndex, s.writeIndex)
}

// deleteListed deletes the keyring entry user and drops item from the
// index that lists it, read by read and written by write. A damaged index
// is left as it is, but does not keep the entry from being deleted. An
// entry that is not there gives an error wrapping ErrNotFound, after item
// is dropped from the index should it still be listed there; what names
// the entry in errors.
func deleteListed[T comparable](s *Store, user, what string, item T, read func() ([]T, error), write func([]T) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	list, lerr := read()
	if lerr != nil && !errors.Is(lerr, errDamaged) {
		return lerr
	}
	derr := s.kr.Delete(s.service, user)
	if derr != nil && !errors.Is(derr, ErrNotFound) {
		return fmt.Errorf("delete %s: %w", what, derr)
	}
	if i := slices.Index(list, item); lerr == nil && i >= 0 {
		if err := write(slices.Delete(list, i, i+1)); err != nil {
			return err
		}
	}
	if derr != nil {
		return fmt.Errorf("%s %w", what, ErrNotFound)
	}
	return nil
}

// Signer returns the stored private key name.
func (s *Store) Signer(name string) (crypto.Signer, error) {
	if err := ValidateKeyName(name); err != nil {
		return nil, err
	}
	p, err := s.kr.Get(s.service, keyPrefix+name)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("key %s %w", quoteName(name), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", quoteName(name), err)
	}
	k, err := ParsePrivatePEM([]byte(p))
	if err != nil {
		return nil, fmt.Errorf("key %s in the keyring is damaged: %w", quoteName(name), err)
	}
	return k, nil
}

// Public returns the public part of the stored key name.
func (s *Store) Public(name string) (crypto.PublicKey, error) {
	k, err := s.Signer(name)
	if err != nil {
		return nil, err
	}
	return k.Public(), nil
}

// Info describes the stored key name.
func (s *Store) Info(name string) (Info, error) {
	k, err := s.Signer(name)
	if err != nil {
		return Info{}, err
	}
	return Describe(name, k.Public())
}

// Describe gives a key's name, algorithm (release.Algorithm) and key id
// (release.KeyID); name may be empty for a key outside the keyring.
func Describe(name string, pub crypto.PublicKey) (Info, error) {
	alg, id, err := release.Identify(pub)
	if err != nil {
		return Info{}, err
	}
	return Info{Name: name, Alg: alg, KeyID: id}, nil
}

// index is the keyring entry naming the stored keys.
type index struct {
	Keys []string `json:"keys"`
}

// readIndex reads the key index; a missing one is empty. Names are
// returned sorted, without duplicates or invalid names.
// readIndex is the names of the stored keys, as the key index lists them.
func (s *Store) readIndex() (keys []string, err error) {
	err = s.readIndexEntry(indexUser, "key index", func(b []byte) error {
		idx, err := decodeIndex(b)
		keys = idx.Keys
		return err
	})
	return keys, err
}

// readIndexEntry reads user, an index otactl keeps in the keyring as JSON,
// through decode; decode is not called when there is no such entry yet.
func (s *Store) readIndexEntry(user, what string, decode func([]byte) error) error {
	v, err := s.kr.Get(s.service, user)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	if err := decode([]byte(v)); err != nil {
		return fmt.Errorf("%s in the keyring (service %q, user %q) %w: %w", what, s.service, user, errDamaged, err)
	}
	return nil
}

// decodeIndex parses the key index entry, sorted and without duplicates or
// invalid names.
func decodeIndex(b []byte) (index, error) {
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil {
		return index{}, err
	}
	idx.Keys = slices.DeleteFunc(idx.Keys, func(n string) bool { return ValidateKeyName(n) != nil })
	slices.Sort(idx.Keys)
	idx.Keys = slices.Compact(idx.Keys)
	return idx, nil
}

func (s *Store) writeIndex(keys []string) error {
	slices.Sort(keys)
	keys = slices.Compact(keys)
	return s.writeIndexEntry(indexUser, "key index", index{Keys: keys}, len(keys) == 0)
}

// writeIndexEntry stores v as user, an index otactl keeps in the keyring as
// JSON; an empty index is deleted, so that the last key or login gone
// leaves no otactl entry behind.
func (s *Store) writeIndexEntry(user, what string, v any, empty bool) error {
	if empty {
		if err := s.kr.Delete(s.service, user); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("write %s: %w", what, err)
		}
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := s.kr.Set(s.service, user, string(b)); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}
