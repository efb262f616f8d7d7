package release

import "errors"

// ErrVerification is wrapped by every error that means a release or an
// artifact failed a check: digest, signature, hash, size, expiry or
// anti-rollback. Callers map it to exit code 3.
var ErrVerification = errors.New("verification failed")
