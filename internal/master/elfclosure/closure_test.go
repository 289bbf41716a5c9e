package elfclosure

import (
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// resolveOK resolves and checks what must hold of every closure.
func resolveOK(t *testing.T, path string, opts Options) *Closure {
	t.Helper()
	c, err := Resolve(path, opts)
	if err != nil {
		t.Fatalf("Resolve(%q) = %v", path, err)
	}
	checkFiles(t, c)
	return c
}

// checkFiles checks that Files alone rebuild every path the closure
// opens: sorted, each entry's directory an earlier Dir entry, and every
// object's path walking, through the recorded links only, to a regular
// file.
func checkFiles(t *testing.T, c *Closure) {
	t.Helper()
	byPath := map[string]File{}
	for i, f := range c.Files {
		if i > 0 && c.Files[i-1].Path >= f.Path {
			t.Errorf("Files not sorted: %q before %q", c.Files[i-1].Path, f.Path)
		}
		if dir := dirName(f.Path); dir != "/" {
			if d, ok := byPath[dir]; !ok || d.Kind != Dir {
				t.Errorf("%s: its directory %s is not an earlier Dir entry", f.Path, dir)
			}
		}
		switch {
		case f.Kind == Symlink && (f.Target == "" || f.Mode&fs.ModeSymlink == 0):
			t.Errorf("%s: symlink entry %+v", f.Path, f)
		case f.Kind == Regular && !f.Mode.IsRegular():
			t.Errorf("%s: regular entry %+v", f.Path, f)
		case f.Kind == Dir && !f.Mode.IsDir():
			t.Errorf("%s: dir entry %+v", f.Path, f)
		}
		byPath[f.Path] = f
	}
	paths := []string{c.Program}
	paths = append(paths, c.Interpreters...)
	for _, o := range c.Objects {
		paths = append(paths, o.Path)
	}
	for _, m := range c.Missing {
		if m.Path != "" {
			paths = append(paths, m.Path)
		}
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") {
			continue // relative to the working directory; checked where tested
		}
		if got, err := walkFiles(byPath, p); err != nil {
			t.Errorf("%s: walking Files: %v", p, err)
		} else if byPath[got].Kind != Regular {
			t.Errorf("%s: walking Files ends at %+v", p, byPath[got])
		}
	}
}

// walkFiles walks p in a file system that holds only files, as a node
// built from a closure would.
func walkFiles(files map[string]File, p string) (string, error) {
	w := newWalker(filesFS(files), "")
	real, _, err := w.walk(p)
	return real, err
}

// filesFS is an FS of File entries: enough to walk, not to open.
type filesFS map[string]File

func (m filesFS) Open(string) (*os.File, error) { return nil, errors.ErrUnsupported }
func (m filesFS) Lstat(p string) (fs.FileInfo, error) {
	f, ok := m[p]
	if !ok {
		return nil, &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
	}
	return fileInfo{f}, nil
}
func (m filesFS) Readlink(p string) (string, error) { return m[p].Target, nil }

type fileInfo struct{ f File }

func (f fileInfo) Name() string       { return filepath.Base(f.f.Path) }
func (f fileInfo) Size() int64        { return f.f.Size }
func (f fileInfo) Mode() fs.FileMode  { return f.f.Mode }
func (f fileInfo) ModTime() time.Time { return time.Time{} }
func (f fileInfo) IsDir() bool        { return f.f.Kind == Dir }
func (f fileInfo) Sys() any           { return nil }

func hasFile(c *Closure, path string, kind Kind) bool {
	return slices.ContainsFunc(c.Files, func(f File) bool { return f.Path == path && f.Kind == kind })
}

func TestLs(t *testing.T) {
	c := resolveOK(t, "/bin/ls", Options{})
	compareLdd(t, c, runLdd(t, "/bin/ls", nil, "/"))
	if c.Program != "/bin/ls" || len(c.Interpreters) != 0 {
		t.Errorf("Program %q, Interpreters %q", c.Program, c.Interpreters)
	}
	if c.Objects[0].Path != "/bin/ls" {
		t.Errorf("first object %+v, want the executable", c.Objects[0])
	}
	// Debian's merged /usr: the paths the kernel and the loader open go
	// through these links, and a node needs them.
	for _, link := range []string{"/bin", "/lib", "/lib64"} {
		if fi, err := os.Lstat(link); err == nil && fi.Mode()&fs.ModeSymlink != 0 && !hasFile(c, link, Symlink) {
			t.Errorf("closure of /bin/ls lacks the link %s", link)
		}
	}
	if _, err := os.Stat(ldCachePath); err == nil && !hasFile(c, ldCachePath, Regular) {
		t.Errorf("closure of /bin/ls lacks %s, which the loader read", ldCachePath)
	}
}

func TestPython3(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	c := resolveOK(t, "/usr/bin/python3", Options{})
	compareLdd(t, c, runLdd(t, "/usr/bin/python3", nil, "/"))
	// /usr/bin/python3 is a link to python3.X: both are in.
	real, err := filepath.EvalSymlinks("/usr/bin/python3")
	if err != nil {
		t.Fatal(err)
	}
	if !hasFile(c, real, Regular) {
		t.Errorf("closure lacks %s", real)
	}
}

func TestShellScript(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "run.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755)
	c := resolveOK(t, script, Options{})
	if !slices.Equal(c.Interpreters, []string{"/bin/sh"}) {
		t.Errorf("Interpreters = %q, want [/bin/sh]", c.Interpreters)
	}
	if !hasFile(c, script, Regular) {
		t.Errorf("closure lacks the script itself")
	}
	sh, _ := Resolve("/bin/sh", Options{})
	for _, o := range sh.Objects {
		if !slices.Contains(c.Objects, o) {
			t.Errorf("script closure lacks /bin/sh's %+v", o)
		}
	}
}

func TestEnvScript(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	// The command env runs is found in the program's PATH, not ours.
	os.Symlink("/bin/cat", filepath.Join(bin, "mycat"))
	script := filepath.Join(dir, "s")
	os.WriteFile(script, []byte("#!/usr/bin/env mycat\nhello\n"), 0o755)
	c := resolveOK(t, script, Options{Env: []string{"PATH=" + bin}})
	want := []string{"/usr/bin/env", bin + "/mycat"}
	if !slices.Equal(c.Interpreters, want) {
		t.Errorf("Interpreters = %q, want %q", c.Interpreters, want)
	}
	if !hasFile(c, bin+"/mycat", Symlink) {
		t.Errorf("closure lacks the link %s/mycat", bin)
	}
	compareLdd(t, &Closure{Program: "/bin/cat", Objects: objectsOf(c, "/bin/cat", bin+"/mycat")}, runLdd(t, "/bin/cat", nil, "/"))

	// Not in PATH: env fails at run time, on the node, with its own words.
	c = resolveOK(t, script, Options{Env: []string{"PATH=/nonexistent"}})
	if len(c.Missing) != 1 || c.Missing[0].Name != "mycat" || c.Missing[0].By != "/usr/bin/env" {
		t.Errorf("Missing = %+v, want mycat by /usr/bin/env", c.Missing)
	}

	// -S splits the argument; without it "mycat -n" is one name.
	os.WriteFile(script, []byte("#!/usr/bin/env -S mycat -n\nhello\n"), 0o755)
	c = resolveOK(t, script, Options{Env: []string{"PATH=" + bin}})
	if !slices.Equal(c.Interpreters, want) {
		t.Errorf("-S: Interpreters = %q, want %q", c.Interpreters, want)
	}
	os.WriteFile(script, []byte("#!/usr/bin/env mycat -n\nhello\n"), 0o755)
	c = resolveOK(t, script, Options{Env: []string{"PATH=" + bin}})
	if len(c.Missing) != 1 || c.Missing[0].Name != "mycat -n" {
		t.Errorf("no -S: Missing = %+v, want \"mycat -n\"", c.Missing)
	}
}

// objectsOf picks one executable's objects out of a closure of several,
// renamed as ldd of that executable would show them.
func objectsOf(c *Closure, want, as string) []Object {
	d, _ := Resolve(want, Options{})
	var out []Object
	for _, o := range d.Objects {
		if slices.Contains(c.Objects, o) || (o.Path == want && slices.ContainsFunc(c.Objects, func(x Object) bool { return x.Path == as })) {
			out = append(out, o)
		}
	}
	return out
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "noexec"), []byte("#!/bin/sh\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "adir"), 0o755)
	tests := []struct {
		name, path string
		want       string
		err        error
	}{
		{"ls", "/nonexistent:/usr/bin:/bin", "/usr/bin/ls", nil},
		{"ls", "/usr/bin/:/bin", "/usr/bin/ls", nil},
		{"noexec", dir, "", fs.ErrPermission},
		{"noexec", dir + ":/nonexistent", "", fs.ErrPermission},
		{"adir", dir, "", fs.ErrPermission},
		{"nosuch", dir, "", fs.ErrNotExist},
		{"ls", "", "", fs.ErrNotExist}, // an empty PATH is the working directory
		{"./x", "", dir + "/./x", nil},
	}
	r, _ := newResolver(Options{Dir: dir})
	for _, tc := range tests {
		got, err := r.lookPath(tc.name, tc.path)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("lookPath(%q, %q) = %q, %v, want %q, %v", tc.name, tc.path, got, err, tc.want, tc.err)
		}
	}
	c := resolveOK(t, "ls", Options{Env: []string{"PATH=/nonexistent:/usr/bin"}})
	if c.Program != "/usr/bin/ls" {
		t.Errorf("Resolve(ls) Program = %q, want /usr/bin/ls", c.Program)
	}
}

func TestExecErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode fs.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), mode)
		return p
	}
	// A chain of five scripts runs; a sixth is ELOOP (measured on Linux 6.x).
	for i := 0; i < 6; i++ {
		next := filepath.Join(dir, "chain"+string(rune('0'+i+1)))
		if i == 5 {
			next = "/bin/sh"
		}
		write("chain"+string(rune('0'+i)), "#!"+next+"\n", 0o755)
	}
	if c, err := Resolve(filepath.Join(dir, "chain1"), Options{}); err != nil || len(c.Interpreters) != 5 {
		t.Errorf("five scripts: %v, %v", c, err)
	}
	write("arm.so", string(fakeELF(elf.ELFCLASS64, elf.EM_AARCH64)), 0o755)
	tests := []struct {
		name string
		path string
		err  error
	}{
		{"six scripts", filepath.Join(dir, "chain0"), syscall.ELOOP},
		{"missing interpreter", write("bad", "#!/nonexistent/sh\n", 0o755), fs.ErrNotExist},
		{"CR in the #! line", write("crlf", "#!/bin/sh\r\necho\r\n", 0o755), fs.ErrNotExist},
		{"not executable", write("noexec", "#!/bin/sh\n", 0o644), fs.ErrPermission},
		{"neither ELF nor script", write("text", "echo hi\n", 0o755), syscall.ENOEXEC},
		{"empty #! line", write("empty", "#!\n", 0o755), syscall.ENOEXEC},
		{"#! and nothing", write("bare", "#!", 0o755), fs.ErrPermission}, // the kernel opens "": the working directory
		{"no such program", filepath.Join(dir, "nosuch"), fs.ErrNotExist},
		{"a directory", dir, fs.ErrPermission},
		{"truncated ELF", write("trunc", string(mustRead(t, "/bin/true")[:100]), 0o755), nil},
		{"missing ELF interpreter", write("nointerp", string(tinyELF(elf.ET_DYN, "/nonexistent/ld.so", nil, nil, 0)), 0o755), fs.ErrNotExist},
		{"ELF interpreter of another machine", write("badinterp", string(tinyELF(elf.ET_DYN, filepath.Join(dir, "arm.so"), nil, nil, 0)), 0o755), syscall.ELIBBAD},
		{"relocatable ELF", write("reloc", string(tinyELF(elf.ET_REL, "/x", nil, nil, 0)), 0o755), syscall.ENOEXEC},
	}
	for _, tc := range tests {
		_, err := Resolve(tc.path, Options{})
		if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) {
			t.Errorf("%s: Resolve = %v, want %v", tc.name, err, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: error %q does not name %s", tc.name, err, tc.path)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMalformedELF cuts and corrupts a real program: every result is a
// closure or an error, never a panic.
func TestMalformedELF(t *testing.T) {
	orig := mustRead(t, "/bin/true")
	dir := t.TempDir()
	p := filepath.Join(dir, "prog")
	try := func(b []byte) {
		os.WriteFile(p, b, 0o755)
		Resolve(p, Options{})
	}
	for n := 0; n < len(orig); n += 1 + n/8 {
		try(orig[:n])
	}
	for i := 0; i < 1024 && i < len(orig); i++ { // the headers
		b := bytes.Clone(orig)
		b[i] ^= 0xff
		try(b)
	}
}

// TestAllPrograms compares the closure of every ELF program in the usual
// directories with ldd.
func TestAllPrograms(t *testing.T) {
	dirs := []string{"/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/usr/lib/x86_64-linux-gnu"}
	// Programs with their own library directories (RUNPATH, $ORIGIN):
	// JDKs, pyenv's Pythons, whatever is installed here.
	for _, pattern := range []string{"/usr/lib/jvm/*/bin", "/opt/*/bin", "/usr/lib/x86_64-linux-gnu/*"} {
		m, _ := filepath.Glob(pattern)
		dirs = append(dirs, m...)
	}
	if home, err := os.UserHomeDir(); err == nil {
		m, _ := filepath.Glob(home + "/.pyenv/versions/*/bin")
		dirs = append(dirs, m...)
	}
	limit := -1
	if testing.Short() {
		limit = 40
	}
	n := 0
	seen := map[string]bool{}
	for _, dir := range dirs {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			real, err := filepath.EvalSymlinks(p)
			if err != nil || seen[real] || !isELFProgram(real) {
				continue
			}
			seen[real] = true
			if n++; limit >= 0 && n > limit {
				return
			}
			c, err := Resolve(p, Options{})
			if err != nil {
				t.Errorf("Resolve(%s) = %v", p, err)
				continue
			}
			checkFiles(t, c)
			// ldd runs "ld.so PROGRAM", where $ORIGIN comes from the name
			// given, not, as when the kernel runs it, from the real path
			// (/proc/self/exe): given the real path, ldd does what a run
			// does. (/usr/bin/keytool, a link into a JDK with RUNPATH
			// $ORIGIN/../lib, shows the difference.)
			compareLdd(t, c, runLdd(t, real, nil, "/"))
		}
	}
	t.Logf("%d programs compared with ldd", n)
}

func isELFProgram(p string) bool {
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return false
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == elf.ELFMAG
}

// TestRunInChroot rebuilds a root from nothing but a closure and runs
// the program in it: the test a node makes.
func TestRunInChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "hello.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho hello from $0\n"), 0o755)
	envScript := filepath.Join(dir, "hello-env.sh")
	os.WriteFile(envScript, []byte("#!/usr/bin/env sh\necho hello from $0\n"), 0o755)
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"/bin/ls", "-d", "/usr/bin"}, "/usr/bin\n"},
		{[]string{script}, "hello from " + script + "\n"},
		{[]string{envScript}, "hello from " + envScript + "\n"},
	} {
		c := resolveOK(t, tc.argv[0], Options{})
		root := buildRoot(t, c)
		out, err := chrootRun(root, tc.argv, nil)
		if err != nil || string(out) != tc.want {
			t.Errorf("%q in a root of its closure: %q, %v; want %q", tc.argv, out, err, tc.want)
		}
	}
}

// buildRoot makes a directory holding exactly the closure's files.
func buildRoot(t *testing.T, c *Closure) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range c.Files {
		p := root + f.Path
		var err error
		switch f.Kind {
		case Dir:
			err = os.Mkdir(p, 0o755)
		case Symlink:
			err = os.Symlink(f.Target, p)
		case Regular:
			var b []byte
			if b, err = os.ReadFile(f.Path); err == nil {
				err = os.WriteFile(p, b, f.Mode.Perm())
			}
		}
		if err != nil {
			t.Fatalf("rebuild %s: %v", f.Path, err)
		}
	}
	return root
}

// chrootRun runs argv in root, with a /proc of its own: the loader reads
// /proc/self/exe for an executable's $ORIGIN, as it will on a node. The
// mount goes with the namespace unshare makes, whatever happens here.
func chrootRun(root string, argv, env []string) ([]byte, error) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root+"/proc", 0o555); err != nil {
		return nil, err
	}
	args := append([]string{"--mount", "--pid", "--fork", "--mount-proc=" + root + "/proc", "/usr/sbin/chroot", root}, argv...)
	cmd := exec.Command(unshare, args...)
	cmd.Env = env
	cmd.Dir = "/"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, errors.Join(err, errors.New(stderr.String()))
	}
	return out, nil
}
