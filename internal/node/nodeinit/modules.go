package nodeinit

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// moduleInitCompressedFile asks the kernel to decompress a module itself
// (finit_module's MODULE_INIT_COMPRESSED_FILE, Linux 5.17).
const moduleInitCompressedFile = 4

// LoadModules loads the modules listed in list (one name a line), in that
// order: the image builder writes them with every dependency before what
// needs it, so no resolver is needed here (and none of the decompressors a
// general one brings into every applet's start-up). Their files are found
// through modulesDir/modules.dep. A missing list means none to load. It
// goes on past a module that fails and reports them all: one missing NIC
// driver must not keep another from loading.
func LoadModules(list, modulesDir string) error {
	f, err := os.Open(list)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("modules: %w", err)
	}
	defer f.Close()
	paths, err := modulePaths(filepath.Join(modulesDir, "modules.dep"))
	if err != nil {
		return err
	}
	var errs []error
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		rel, ok := paths[moduleName(name)]
		if !ok {
			errs = append(errs, fmt.Errorf("module %s: not in modules.dep", name))
			continue
		}
		if err := loadModule(filepath.Join(modulesDir, rel)); err != nil {
			errs = append(errs, fmt.Errorf("module %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if !strings.HasSuffix(path, ".ko") {
		flags = moduleInitCompressedFile
	}
	err = unix.FinitModule(int(f.Fd()), "", flags)
	if errors.Is(err, unix.EEXIST) {
		return nil // built in, or loaded already
	}
	return err
}

// modulePaths maps module names to their files from a modules.dep.
func modulePaths(dep string) (map[string]string, error) {
	b, err := os.ReadFile(dep)
	if err != nil {
		return nil, fmt.Errorf("modules: %w", err)
	}
	out := make(map[string]string)
	for _, line := range strings.Split(string(b), "\n") {
		file, _, ok := strings.Cut(line, ":")
		if !ok || file == "" {
			continue
		}
		base := filepath.Base(file)
		if i := strings.Index(base, ".ko"); i > 0 {
			out[moduleName(base[:i])] = file
		}
	}
	return out, nil
}

// moduleName is the kernel's spelling: dashes and underscores are one.
func moduleName(s string) string { return strings.ReplaceAll(s, "-", "_") }
