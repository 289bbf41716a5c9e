package initramfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// moduleSet is what an image carries of one kernel's modules.
type moduleSet struct {
	version string
	// files are paths relative to the kernel's module directory, in load
	// order (each after the modules it needs), with their contents.
	files []moduleFile
	// dep is modules.dep cut down to the lines of files, so a loader on
	// the node (kmodule, modprobe) resolves dependencies the same way. It
	// has no blank lines: u-root v0.16.0's kmodule indexes past the end of
	// a line without a colon and panics.
	dep []byte
	// builtin is the kernel's modules.builtin, whole: it is a few kB and
	// lets the node's loader treat a request for a built-in as done
	// instead of failing to find it.
	builtin []byte
}

type moduleFile struct {
	rel  string
	data []byte
}

// depLine is one line of modules.dep.
type depLine struct {
	rel  string   // the module's path, relative to the kernel's directory
	deps []string // its dependencies, as listed
	text string   // the line itself, to copy unchanged
}

// resolveModules finds the modules named in required and optional in
// modulesDir/version and everything they depend on.
//
// Compressed modules (.ko.xz, .ko.zst, .ko.gz) are copied as they are:
// u-root's kmodule.FileInit decompresses them in user space before
// init_module(2), so the node kernel's CONFIG_MODULE_DECOMPRESS does not
// matter. Debian 12's kernels ship them uncompressed anyway
// (CONFIG_MODULE_COMPRESS_NONE=y).
func resolveModules(modulesDir, version string, required, optional []string) (*moduleSet, error) {
	if version == "" {
		return nil, fmt.Errorf("modules %s: no kernel version given", strings.Join(slices.Concat(required, optional), ", "))
	}
	if !isName(version) {
		return nil, fmt.Errorf("kernel version %q: %w", version, ErrBadPath)
	}
	dir := filepath.Join(modulesDir, version)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("kernel %s: modules: %w", version, err)
	}
	byName, err := readModulesDep(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", version, err)
	}
	builtin, builtinText, err := readBuiltin(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", version, err)
	}

	byRel := make(map[string]*depLine, len(byName))
	for _, l := range byName {
		byRel[l.rel] = l
	}
	r := resolver{byRel: byRel, state: make(map[string]int)}
	for _, n := range required {
		l, ok := byName[moduleName(n)]
		switch {
		case ok:
			if err := r.visit(l); err != nil {
				return nil, fmt.Errorf("kernel %s: module %s: %w", version, n, err)
			}
		case builtin[moduleName(n)]:
			// Built into the kernel: there is nothing to carry or load.
		default:
			return nil, fmt.Errorf("kernel %s: module %s: %w (not in %s nor modules.builtin)",
				version, n, ErrUnknownModule, filepath.Join(dir, "modules.dep"))
		}
	}
	for _, n := range optional {
		if l, ok := byName[moduleName(n)]; ok {
			if err := r.visit(l); err != nil {
				return nil, fmt.Errorf("kernel %s: module %s: %w", version, n, err)
			}
		}
	}

	s := &moduleSet{version: version, builtin: builtinText}
	var dep bytes.Buffer
	for _, l := range r.order {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(l.rel)))
		if err != nil {
			return nil, fmt.Errorf("kernel %s: module file: %w", version, err)
		}
		s.files = append(s.files, moduleFile{rel: l.rel, data: data})
		dep.WriteString(l.text)
		dep.WriteByte('\n')
	}
	s.dep = dep.Bytes()
	return s, nil
}

// resolver orders modules so that each comes after what it needs.
type resolver struct {
	byRel map[string]*depLine
	state map[string]int // 1: being visited, 2: done
	order []*depLine
}

func (r *resolver) visit(l *depLine) error {
	switch r.state[l.rel] {
	case 1:
		return fmt.Errorf("%s: dependency cycle in modules.dep", l.rel)
	case 2:
		return nil
	}
	r.state[l.rel] = 1
	// depmod lists dependencies with the most dependent first; modprobe
	// loads them from the end of the list. Visiting them in that order
	// gives the same load order as modprobe --show-depends.
	for i := len(l.deps) - 1; i >= 0; i-- {
		d, ok := r.byRel[l.deps[i]]
		if !ok {
			return fmt.Errorf("%s needs %s, which has no line of its own in modules.dep", l.rel, l.deps[i])
		}
		if err := r.visit(d); err != nil {
			return err
		}
	}
	r.state[l.rel] = 2
	r.order = append(r.order, l)
	return nil
}

// readModulesDep parses modules.dep ("rel.ko: dep.ko dep.ko") into lines
// by module name. A kernel package ships without it (Debian's postinst runs
// depmod), so a missing file says so.
func readModulesDep(p string) (map[string]*depLine, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("read modules.dep: %w (run depmod for this kernel)", err)
		}
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	m := make(map[string]*depLine)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		mod, deps, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: no colon in %q", p, n, text)
		}
		l := &depLine{rel: strings.TrimSpace(mod), deps: strings.Fields(deps), text: text}
		for _, r := range append([]string{l.rel}, l.deps...) {
			// depmod writes paths relative to the kernel's directory;
			// anything else would land outside /lib/modules/VER in the
			// image, or anywhere at all.
			if !filepath.IsLocal(r) || path.Clean(r) != r {
				return nil, fmt.Errorf("%s:%d: module path %q: %w", p, n, r, ErrBadPath)
			}
		}
		m[moduleName(l.rel)] = l
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return m, nil
}

// readBuiltin reads modules.builtin: the set of names and the text. A
// kernel without the file simply has no built-ins we know of.
func readBuiltin(p string) (map[string]bool, []byte, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	m := make(map[string]bool)
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			m[moduleName(l)] = true
		}
	}
	return m, b, nil
}

// moduleName turns a module path or name into the kernel's spelling of its
// name: file names mix "-" and "_" (i2c-algo-bit.ko is module
// i2c_algo_bit), names given by people do too.
func moduleName(s string) string {
	s = path.Base(s)
	for _, ext := range []string{".gz", ".xz", ".zst"} {
		s = strings.TrimSuffix(s, ext)
	}
	s = strings.TrimSuffix(s, ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// isName reports whether s can be one path element.
func isName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

// InstalledKernels lists the kernel versions in modulesDir ("" means
// DefaultModulesDir) that have a modules.dep, so a caller can pick one or
// say which exist.
func InstalledKernels(modulesDir string) ([]string, error) {
	if modulesDir == "" {
		modulesDir = DefaultModulesDir
	}
	ents, err := os.ReadDir(modulesDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list kernels: %w", err)
	}
	var vs []string
	for _, e := range ents {
		// Leftovers of removed kernels (a directory with no modules.dep)
		// are not kernels one can build for.
		if fi, err := os.Stat(filepath.Join(modulesDir, e.Name(), "modules.dep")); err == nil && fi.Mode().IsRegular() {
			vs = append(vs, e.Name())
		}
	}
	return vs, nil
}
