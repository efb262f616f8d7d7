package regularfile

import (
	"errors"
	"os"
)

// Append adds data at the end of the regular file path, creating it
// (0644, less the umask) when missing. It refuses, as Check does, a path
// that is or leads to something other than a regular file, and checks
// the open file again. An append is not atomic: it is for files that
// others append to as well, such as GitHub's $GITHUB_STEP_SUMMARY.
func Append(path string, data []byte) error {
	t, err := Check(path, Options{})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(t.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fail(path, err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = notRegular(path, st.Mode())
	}
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		var nr *NotRegularError
		if errors.As(err, &nr) {
			return err
		}
		return fail(path, err)
	}
	return nil
}
