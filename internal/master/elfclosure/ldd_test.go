package elfclosure

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// lddResult is what ldd printed: the real loader in trace mode, the
// oracle of these tests.
type lddResult struct {
	byName   map[string]string // "libc.so.6" => "/lib/x86_64-linux-gnu/libc.so.6"
	bare     []string          // objects printed by path alone: the ELF interpreter
	notFound []string
	static   bool
	out      string
}

// runLdd runs ldd on prog with env (nil: an empty environment) in dir.
func runLdd(t *testing.T, prog string, env []string, dir string) lddResult {
	t.Helper()
	ldd, err := exec.LookPath("ldd")
	if err != nil {
		t.Skip("no ldd")
	}
	cmd := exec.Command(ldd, prog)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput() // ldd fails on static programs and on missing libraries; the output says which
	return parseLdd(string(out))
}

func parseLdd(out string) lddResult {
	r := lddResult{byName: map[string]string{}, out: out}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.Contains(line, "not a dynamic executable"), strings.Contains(line, "statically linked"):
			r.static = true
		case strings.HasSuffix(line, "=> not found"):
			r.notFound = append(r.notFound, strings.TrimSpace(strings.TrimSuffix(line, "=> not found")))
		case strings.Contains(line, " => "):
			name, rest, _ := strings.Cut(line, " => ")
			path, _, _ := strings.Cut(rest, " (0x")
			r.byName[name] = path
		default:
			path, _, _ := strings.Cut(line, " (0x")
			if !strings.HasPrefix(path, "linux-vdso") && !strings.HasPrefix(path, "linux-gate") {
				r.bare = append(r.bare, path)
			}
		}
	}
	return r
}

// compareLdd checks that the closure loads what ldd says the loader
// loads, from the same paths, and misses what it misses.
func compareLdd(t *testing.T, c *Closure, l lddResult) {
	t.Helper()
	// Ours, as ldd prints it: the first copy of each name (the best a
	// CPU may take; on this machine no library has a hwcaps copy the CPU
	// cannot take), the executable left out.
	ours := map[string]string{}
	var oursBare []string
	for _, o := range c.Objects[1:] {
		if _, ok := ours[o.Name]; ok {
			continue
		}
		if o.Name == o.Path {
			oursBare = append(oursBare, o.Path)
			continue
		}
		ours[o.Name] = o.Path
	}
	if l.static {
		if len(c.Objects) != 1 {
			t.Errorf("%s: ldd says static, closure loads %v", c.Program, c.Objects)
		}
		return
	}
	for name, path := range l.byName {
		if ours[name] != path {
			t.Errorf("%s: %s => %q, ldd says %q\nldd:\n%s", c.Program, name, ours[name], path, l.out)
		}
	}
	for name, path := range ours {
		if _, ok := l.byName[name]; !ok {
			t.Errorf("%s: closure loads %s => %s, ldd does not\nldd:\n%s", c.Program, name, path, l.out)
		}
	}
	// ldd lists the ELF interpreter only when a library asks for it (as
	// libc.so.6 does); the kernel loads it all the same.
	if interp := c.Objects[1].Path; !slices.Contains(l.bare, interp) {
		oursBare = slices.DeleteFunc(oursBare, func(p string) bool { return p == interp })
	}
	slices.Sort(oursBare)
	slices.Sort(l.bare)
	if !slices.Equal(oursBare, l.bare) {
		t.Errorf("%s: objects by path %q, ldd says %q", c.Program, oursBare, l.bare)
	}
	var missing []string
	for _, m := range c.Missing {
		missing = append(missing, m.Name)
	}
	slices.Sort(missing)
	slices.Sort(l.notFound)
	if !slices.Equal(slices.Compact(missing), slices.Compact(l.notFound)) {
		t.Errorf("%s: missing %q, ldd says not found %q", c.Program, missing, l.notFound)
	}
}

func TestParseLdd(t *testing.T) {
	out := "\tlinux-vdso.so.1 (0x00007ffd)\n" +
		"\tlibselinux.so.1 => /lib/x86_64-linux-gnu/libselinux.so.1 (0x00007f01)\n" +
		"\tlibb.so => not found\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f01da9be000)\n"
	r := parseLdd(out)
	if r.byName["libselinux.so.1"] != "/lib/x86_64-linux-gnu/libselinux.so.1" || len(r.byName) != 1 {
		t.Errorf("byName = %v", r.byName)
	}
	if !slices.Equal(r.bare, []string{"/lib64/ld-linux-x86-64.so.2"}) || !slices.Equal(r.notFound, []string{"libb.so"}) {
		t.Errorf("bare = %q, notFound = %q", r.bare, r.notFound)
	}
}
