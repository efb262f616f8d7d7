package commands

import "fmt"

func keyDeleteRun(sys *System, name string) error {
	if err := sys.keyStore().Delete(name); err != nil {
		return fmt.Errorf("key delete: %w", err)
	}
	fmt.Fprintf(sys.Stderr, "deleted key %q\n", name)
	return nil
}
