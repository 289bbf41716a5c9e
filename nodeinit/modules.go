package nodeinit

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/u-root/u-root/pkg/kmodule"
)

// LoadModules loads the modules listed in list (one name a line, in load
// order; the image builder writes it) with their dependencies from the
// image's modules.dep. A missing list means none to load. It goes on past
// a module that fails and reports them all: one missing NIC driver must not
// keep another from loading.
func LoadModules(list string) error {
	f, err := os.Open(list)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("modules: %w", err)
	}
	defer f.Close()
	var errs []error
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		if err := kmodule.Probe(name, ""); err != nil && !errors.Is(err, os.ErrExist) {
			errs = append(errs, fmt.Errorf("module %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
