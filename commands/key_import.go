package commands

import (
	"fmt"

	"github.com/otactl/otactl/keys"
)

func keyImportRun(sys *System, name, file string) error {
	if err := keys.ValidateKeyName(name); err != nil {
		return usageErrorf("key import: %v", err)
	}
	if file != "-" && keys.PastedForPath(file) {
		return withHint(usageErrorf("key import: FILE looks like key material, not a path"), fmt.Sprintf("give the key file, or - to read the key from standard input: otactl key import %s - < key.pem", name))
	}
	data, err := readInput(sys, file)
	if err != nil {
		return fmt.Errorf("key import: %w", err)
	}
	info, err := sys.keyStore().Import(name, data)
	if err != nil {
		return fmt.Errorf("key import: %w", err)
	}
	_, err = fmt.Fprintf(sys.Stdout, "%s\t%s\t%s\n", info.Name, info.Alg, info.KeyID)
	return err
}
