package broker

import (
	"bufio"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/release"
)

// Role is what an authenticated client may do.
type Role string

const (
	// RoleOperator may publish and subscribe to every topic.
	RoleOperator Role = "operator"
	// RoleDevice may publish only under its own Pdevices/{id}/ and read
	// only the fleet, its cohort's and its own topics; its client id must
	// be its user name, which is its device id.
	RoleDevice Role = "device"
)

// User is one entry of a users file.
type User struct {
	Name   string
	Role   Role
	Cohort string // a device's cohort, or ""
	hash   passwordHash
}

// Users is the parsed users file: who may connect and in which role.
type Users struct {
	byName map[string]*User

	// now is the clock of the verified cache.
	now func() time.Time
	// slow bounds the password hashes computed at once.
	slow chan struct{}
	// slowChecks counts the password hashes computed.
	slowChecks atomic.Int64

	mu sync.Mutex
	// verified remembers, per user, a digest of the last password that
	// passed the slow hash, for verifiedTTL, so that a device reconnecting
	// (a reboot, a flaky link, many connections at once) does not cost a
	// full key derivation each time.
	verified map[string]verifiedPassword
	// checking is, per user, the slow checks running now; a login with
	// the same password as one of them waits for its answer instead of
	// hashing again.
	checking map[string][]*passwordCheck
}

// verifiedTTL is how long a verified password is remembered.
const verifiedTTL = 5 * time.Minute

type verifiedPassword struct {
	sum [32]byte
	at  time.Time
}

type passwordCheck struct {
	sum     [32]byte
	done    chan struct{}
	ok      bool
	skipped bool // not checked: mayHash said no
}

// Password hashes: PBKDF2 with HMAC-SHA-256, written as
// $pbkdf2-sha256$ITERATIONS$SALT$KEY with SALT and KEY in unpadded standard
// base64. PBKDF2 is in Go's standard library and in every crypto library a
// device backend might use.
const (
	hashScheme = "$pbkdf2-sha256$"
	// DefaultIterations is the PBKDF2 iteration count HashPassword uses
	// when given 0: about 20 ms on one core of the project's machines.
	DefaultIterations = 100_000
	minIterations     = 1_000
	maxIterations     = 10_000_000
	saltLen           = 16
	keyLen            = 32
	// maxUsersFile bounds the users file we read.
	maxUsersFile = 64 << 20
)

type passwordHash struct {
	iterations int
	salt       []byte
	key        []byte
	text       string
}

// HashPassword returns the users-file hash of password with a fresh random
// salt and iterations rounds (DefaultIterations when 0).
func HashPassword(password []byte, iterations int) (string, error) {
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if iterations < minIterations || iterations > maxIterations {
		return "", fmt.Errorf("iterations %d out of range %d to %d", iterations, minIterations, maxIterations)
	}
	if len(password) == 0 {
		return "", errors.New("password is empty")
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, string(password), salt, iterations, keyLen)
	if err != nil {
		return "", err
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("%s%d$%s$%s", hashScheme, iterations, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

func parseHash(s string) (passwordHash, error) {
	rest, ok := strings.CutPrefix(s, hashScheme)
	if !ok {
		return passwordHash{}, fmt.Errorf("password hash does not start with %s (make one with 'otactl broker passwd')", hashScheme)
	}
	parts := strings.Split(rest, "$")
	if len(parts) != 3 {
		return passwordHash{}, errors.New("password hash is not $pbkdf2-sha256$ITERATIONS$SALT$KEY")
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n < minIterations || n > maxIterations {
		return passwordHash{}, fmt.Errorf("password hash iterations %q out of range %d to %d", parts[0], minIterations, maxIterations)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[1])
	if err != nil || len(salt) < 8 {
		return passwordHash{}, errors.New("password hash salt is not base64 of at least 8 bytes")
	}
	key, err := b64.DecodeString(parts[2])
	if err != nil || len(key) != keyLen {
		return passwordHash{}, fmt.Errorf("password hash key is not base64 of %d bytes", keyLen)
	}
	return passwordHash{iterations: n, salt: salt, key: key, text: s}, nil
}

func (h passwordHash) matches(password []byte) bool {
	key, err := pbkdf2.Key(sha256.New, string(password), h.salt, h.iterations, keyLen)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// FormatUser is one line of a users file.
func FormatUser(name string, role Role, cohort, hash string) string {
	line := name + " " + hash + " " + string(role)
	if cohort != "" {
		line += " " + cohort
	}
	return line
}

// LoadUsers reads a users file; see ParseUsers for its format.
func LoadUsers(path string) (*Users, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	u, err := ParseUsers(io.LimitReader(f, maxUsersFile))
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return u, nil
}

// ParseUsers reads a users file: one user per line,
//
//	NAME HASH ROLE [COHORT]
//
// separated by spaces or tabs, where HASH comes from HashPassword (or
// 'otactl broker passwd'), ROLE is operator or device and COHORT, for a
// device only, is its cohort. A device's NAME is its device id. Empty lines
// and lines starting with # are ignored. A name appears once.
func ParseUsers(r io.Reader) (*Users, error) {
	u := &Users{
		byName:   map[string]*User{},
		now:      time.Now,
		slow:     make(chan struct{}, runtime.GOMAXPROCS(0)),
		verified: map[string]verifiedPassword{},
		checking: map[string][]*passwordCheck{},
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		user, err := parseUserLine(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if _, dup := u.byName[user.Name]; dup {
			return nil, fmt.Errorf("line %d: user %q appears twice", line, user.Name)
		}
		u.byName[user.Name] = user
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return u, nil
}

func parseUserLine(text string) (*User, error) {
	f := strings.Fields(text)
	if len(f) < 3 || len(f) > 4 {
		return nil, errors.New("want NAME HASH ROLE [COHORT]")
	}
	user := &User{Name: f[0], Role: Role(f[2])}
	hash, err := parseHash(f[1])
	if err != nil {
		return nil, err
	}
	user.hash = hash
	switch user.Role {
	case RoleOperator:
		if err := ValidateClientID(user.Name); err != nil {
			return nil, fmt.Errorf("operator name: %w", err)
		}
		if len(f) == 4 {
			return nil, errors.New("an operator has no cohort")
		}
	case RoleDevice:
		if err := release.ValidateDeviceID(user.Name); err != nil {
			return nil, err
		}
		if len(f) == 4 {
			if err := release.ValidateCohort(f[3]); err != nil {
				return nil, err
			}
			user.Cohort = f[3]
		}
	default:
		// Not quoted: a password written in the wrong column must not
		// reach the log.
		return nil, errors.New("the role (third field) must be operator or device")
	}
	return user, nil
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.byName) }

// Lookup returns the user called name.
func (u *Users) Lookup(name string) (*User, bool) {
	user, ok := u.byName[name]
	return user, ok
}

// Authenticate returns the user called name when password is theirs.
func (u *Users) Authenticate(name string, password []byte) (*User, bool) {
	return u.authenticate(name, password, nil)
}

// authenticate is Authenticate, asking mayHash (when not nil) just before
// it would compute a password hash; when mayHash says no, the login fails
// without one. A password verified within verifiedTTL is accepted after a
// constant-time compare of digests, and logins with the same password
// while it is being checked share that one check.
func (u *Users) authenticate(name string, password []byte, mayHash func() bool) (*User, bool) {
	user, ok := u.byName[name]
	if !ok || len(password) == 0 {
		return nil, false
	}
	// The digest binds the stored hash too, so a changed entry is
	// verified afresh.
	sum := sha256.Sum256(append([]byte(user.hash.text+"\x00"), password...))
	for {
		u.mu.Lock()
		if v, ok := u.verified[name]; ok && u.now().Sub(v.at) < verifiedTTL && subtle.ConstantTimeCompare(v.sum[:], sum[:]) == 1 {
			u.mu.Unlock()
			return user, true
		}
		var same *passwordCheck
		for _, c := range u.checking[name] {
			if subtle.ConstantTimeCompare(c.sum[:], sum[:]) == 1 {
				same = c
			}
		}
		if same != nil {
			u.mu.Unlock()
			<-same.done
			if same.skipped {
				continue // that login's address was refused, not this one
			}
			if same.ok {
				return user, true
			}
			return nil, false
		}
		c := &passwordCheck{sum: sum, done: make(chan struct{})}
		u.checking[name] = append(u.checking[name], c)
		u.mu.Unlock()

		c.ok, c.skipped = u.slowCheck(user, password, mayHash)
		u.mu.Lock()
		u.checking[name] = slices.DeleteFunc(u.checking[name], func(x *passwordCheck) bool { return x == c })
		if len(u.checking[name]) == 0 {
			delete(u.checking, name)
		}
		if c.ok {
			u.verified[name] = verifiedPassword{sum: sum, at: u.now()}
		}
		u.mu.Unlock()
		close(c.done)
		if c.ok {
			return user, true
		}
		return nil, false
	}
}

// slowCheck computes the password hash, at most GOMAXPROCS at once, unless
// mayHash says no once it is this check's turn (skipped).
func (u *Users) slowCheck(user *User, password []byte, mayHash func() bool) (ok, skipped bool) {
	u.slow <- struct{}{}
	defer func() { <-u.slow }()
	if mayHash != nil && !mayHash() {
		return false, true
	}
	u.slowChecks.Add(1)
	return user.hash.matches(password), false
}

// ValidateClientID refuses MQTT client ids that could escape a per-client
// topic namespace: ones holding the wildcards + or #, a /, or control
// characters.
func ValidateClientID(id string) error {
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c == '+' || c == '#' || c == '/':
			return fmt.Errorf("client id %q holds %q", id, c)
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("client id holds control character %#x", c)
		}
	}
	return nil
}
