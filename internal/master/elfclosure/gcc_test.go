package elfclosure

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/bproc/bproc/internal/shared/asuser"
)

// testTree is a program and libraries built with gcc in a temporary
// directory:
//
//	lib/libb.so              b()
//	lib/liba.so              a(), DT_NEEDED libb.so, no search path of its own
//	bin/rpath, bin/runpath   main(), DT_NEEDED liba.so, $ORIGIN/../lib as DT_RPATH or DT_RUNPATH
//
// main exits 0 when a() == 3, that is when both libraries were loaded.
type testTree struct {
	dir string
}

func needGCC(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the expected loader paths are those of x86-64")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
}

func gcc(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("gcc", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc %q: %v\n%s", args, err, out)
	}
}

func newTestTree(t *testing.T) *testTree {
	needGCC(t)
	// The real path: $ORIGIN is computed from it, and ldd must be given it.
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"lib", "bin", "src", "rp"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	src := map[string]string{
		"b.c": "int b(void) { return 2; }\n",
		"a.c": "int b(void);\nint a(void) { return b() + 1; }\n",
		"m.c": "int a(void);\nint main(void) { return a() == 3 ? 0 : 1; }\n",
	}
	for name, s := range src {
		os.WriteFile(filepath.Join(dir, "src", name), []byte(s), 0o644)
	}
	gcc(t, dir, "-shared", "-fPIC", "-Wl,-soname,libb.so", "-o", "lib/libb.so", "src/b.c")
	gcc(t, dir, "-shared", "-fPIC", "-Wl,-soname,liba.so", "-o", "lib/liba.so", "src/a.c", "-Llib", "-lb")
	gcc(t, dir, "-o", "bin/rpath", "src/m.c", "-Llib", "-la", "-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN/../lib")
	gcc(t, dir, "-o", "bin/runpath", "src/m.c", "-Llib", "-la", "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/../lib")
	return &testTree{dir: dir}
}

func (tt *testTree) path(p string) string { return filepath.Join(tt.dir, p) }

// put writes a file, making its directory.
func (tt *testTree) put(t *testing.T, p string, b []byte) {
	t.Helper()
	os.MkdirAll(filepath.Dir(tt.path(p)), 0o755)
	if err := os.WriteFile(tt.path(p), b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// run runs a program of the tree and returns its stderr and whether it
// exited 0.
func (tt *testTree) run(prog string, env []string) (string, bool) {
	cmd := exec.Command(tt.path(prog))
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err == nil
}

// fakeELF is an ELF header of another class or machine, the size of a
// small library: all the loader reads before passing it over.
func fakeELF(class elf.Class, machine elf.Machine) []byte {
	h := make([]byte, 1024)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS], h[elf.EI_DATA], h[elf.EI_VERSION] = byte(class), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	le := binary.LittleEndian
	le.PutUint16(h[16:], uint16(elf.ET_DYN))
	le.PutUint16(h[18:], uint16(machine))
	le.PutUint32(h[20:], uint32(elf.EV_CURRENT))
	if class == elf.ELFCLASS64 {
		le.PutUint16(h[52:], 64)
		le.PutUint16(h[54:], 56)
	} else {
		le.PutUint16(h[40:], 52)
		le.PutUint16(h[42:], 32)
	}
	return h
}

// loaderPlatform is what this machine's ld.so expands $PLATFORM to: on
// x86-64 it depends on the CPU ("haswell" on many Intel ones).
func loaderPlatform(t *testing.T) string {
	out, err := exec.Command("/lib64/ld-linux-x86-64.so.2", "--help").Output()
	if err != nil {
		t.Fatalf("ld.so --help: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if name, rest, ok := strings.Cut(strings.TrimSpace(l), " "); ok && strings.HasPrefix(rest, "(AT_PLATFORM") {
			return name
		}
	}
	return "x86_64"
}

// TestPlatformEveryCPU: a $PLATFORM directory takes the library's copy
// for each value $PLATFORM has on some CPU, since a node's CPU need not
// be the master's.
func TestPlatformEveryCPU(t *testing.T) {
	tt := newTestTree(t)
	libb := mustRead(t, tt.path("lib/libb.so"))
	for _, p := range []string{"x86_64", "haswell", "xeon_phi"} {
		tt.put(t, p+"/libb.so", libb)
	}
	gcc(t, tt.dir, "-o", "bin/plat", "src/m.c", "-Llib", "-la", "-Wl,-rpath-link,lib", "-Wl,--disable-new-dtags",
		"-Wl,-rpath,$ORIGIN/../$PLATFORM:$ORIGIN/../lib")
	c := resolveOK(t, tt.path("bin/plat"), Options{Dir: tt.dir})
	var got []string
	for _, o := range c.Objects {
		if o.Name == "libb.so" {
			got = append(got, strings.TrimPrefix(o.Path, tt.dir+"/bin/../"))
		}
	}
	slices.Sort(got)
	// Each CPU-specific copy, and lib's for a loader whose $PLATFORM
	// directory lacks it.
	if want := []string{"haswell/libb.so", "lib/libb.so", "x86_64/libb.so", "xeon_phi/libb.so"}; !slices.Equal(got, want) {
		t.Errorf("copies of libb.so = %q, want %q", got, want)
	}
	if len(c.Missing) != 0 {
		t.Errorf("Missing = %v, want none", c.Missing)
	}
}

// TestSearchOrder builds programs whose libraries are found (or not) by
// each rule of the loader and compares every closure with ldd.
func TestSearchOrder(t *testing.T) {
	tt := newTestTree(t)
	libb := mustRead(t, tt.path("lib/libb.so"))
	tt.put(t, "w32/libb.so", fakeELF(elf.ELFCLASS32, elf.EM_386))
	tt.put(t, "arm/libb.so", fakeELF(elf.ELFCLASS64, elf.EM_AARCH64))
	tt.put(t, "text/libb.so", []byte("INPUT(-lb)\n/* a linker script is no ELF file, and longer than an ELF header */\n"))
	tt.put(t, "cwd/libb.so", libb)
	os.Symlink("bin", tt.path("binlink"))
	os.Symlink("../bin/rpath", tt.path("lib/prog"))

	// $LIB and $PLATFORM, and a DT_NEEDED that is a path: the library
	// has no soname, so the link records the path given.
	tt.put(t, "lib/x86_64-linux-gnu/liba.so", mustRead(t, tt.path("lib/liba.so")))
	tt.put(t, loaderPlatform(t)+"/libb.so", libb)
	gcc(t, tt.dir, "-o", "bin/dst", "src/m.c", "-Llib", "-la", "-Wl,-rpath-link,lib", "-Wl,--disable-new-dtags",
		"-Wl,-rpath,$ORIGIN/../$LIB:${ORIGIN}/../$PLATFORM")
	gcc(t, tt.dir, "-shared", "-fPIC", "-o", "lib/libnosoname.so", "src/b.c")
	tt.put(t, "src/mb.c", []byte("int b(void);\nint main(void) { return b() == 2 ? 0 : 1; }\n"))
	gcc(t, tt.dir, "-o", "bin/bypath", "src/mb.c", tt.path("lib/libnosoname.so"))

	// DT_RUNPATH on a library hides the executable's DT_RPATH from that
	// library's own requests.
	gcc(t, tt.dir, "-shared", "-fPIC", "-Wl,-soname,liba.so", "-o", "rp/liba.so", "src/a.c", "-Llib", "-lb",
		"-Wl,--enable-new-dtags", "-Wl,-rpath,/nonexistent")
	os.Symlink("../lib/libb.so", tt.path("rp/libb.so"))
	gcc(t, tt.dir, "-o", "bin/rpath-runpathlib", "src/m.c", "-Lrp", "-la", "-Wl,-rpath-link,lib", "-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN/../rp")
	// DF_1_NODEFLIB: the cache's libc and the built-in directories are
	// off limits to the executable's own requests.
	gcc(t, tt.dir, "-o", "bin/nodeflib", "src/m.c", "-Llib", "-la", "-Wl,-rpath-link,lib", "-Wl,-z,nodefaultlib",
		"-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/../lib")

	tests := []struct {
		name string
		prog string
		env  []string
		dir  string
		runs bool // the program itself starts
	}{
		{"RPATH applies to the dependencies' dependencies", "bin/rpath", nil, "", true},
		{"RUNPATH applies to direct dependencies only", "bin/runpath", nil, "", false},
		{"LD_LIBRARY_PATH", "bin/runpath", []string{"LD_LIBRARY_PATH=" + tt.path("lib")}, "", true},
		{"LD_LIBRARY_PATH comes after RPATH", "bin/rpath", []string{"LD_LIBRARY_PATH=" + tt.path("cwd")}, "", true},
		{"LD_LIBRARY_PATH with ; and DSTs", "bin/runpath", []string{"LD_LIBRARY_PATH=/nonexistent;$ORIGIN/../lib"}, "", true},
		{"wrong class is passed over", "bin/runpath", []string{"LD_LIBRARY_PATH=" + tt.path("w32") + ":" + tt.path("lib")}, "", true},
		{"wrong class only", "bin/runpath", []string{"LD_LIBRARY_PATH=" + tt.path("w32")}, "", false},
		{"wrong machine is passed over", "bin/runpath", []string{"LD_LIBRARY_PATH=" + tt.path("arm") + ":" + tt.path("lib")}, "", true},
		{"empty LD_LIBRARY_PATH element is the working directory", "bin/runpath", []string{"LD_LIBRARY_PATH=:"}, tt.path("cwd"), true},
		{"$ORIGIN of a linked program is its real directory", "lib/prog", nil, "", true},
		{"$ORIGIN through a linked directory", "binlink/rpath", nil, "", true},
		{"$LIB and $PLATFORM", "bin/dst", nil, "", true},
		{"DT_NEEDED with a slash", "bin/bypath", nil, "", true},
		{"RUNPATH of a library hides RPATH", "bin/rpath-runpathlib", nil, "", false},
		{"LD_PRELOAD by path, then matched by soname", "bin/runpath", []string{"LD_PRELOAD=" + tt.path("lib/libb.so")}, "", true},
		{"LD_PRELOAD by name", "bin/runpath", []string{"LD_PRELOAD=libb.so", "LD_LIBRARY_PATH=" + tt.path("cwd")}, "", true},
		{"DF_1_NODEFLIB", "bin/nodeflib", nil, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == "" {
				dir = tt.dir
			}
			c := resolveOK(t, tt.path(tc.prog), Options{Env: tc.env, Dir: dir})
			real, _ := filepath.EvalSymlinks(tt.path(tc.prog))
			compareLdd(t, c, runLdd(t, real, tc.env, dir))
			if tc.runs != (len(c.Missing) == 0) {
				t.Errorf("Missing = %v; the program runs: %v", c.Missing, tc.runs)
			}
			if tc.dir == "" {
				if stderr, ok := tt.run(tc.prog, tc.env); ok != tc.runs {
					t.Errorf("the program ran: %v, want %v\n%s", ok, tc.runs, stderr)
				}
			}
		})
	}

	t.Run("the loader's message for a wrong class", func(t *testing.T) {
		env := []string{"LD_LIBRARY_PATH=" + tt.path("w32")}
		c := resolveOK(t, tt.path("bin/runpath"), Options{Env: env})
		want := Missing{Name: "libb.so", By: tt.dir + "/bin/../lib/liba.so", Reason: "wrong ELF class: ELFCLASS32"}
		if !slices.Equal(c.Missing, []Missing{want}) {
			t.Errorf("Missing = %+v, want %+v", c.Missing, want)
		}
		stderr, _ := tt.run("bin/runpath", env)
		if !strings.Contains(stderr, "libb.so: wrong ELF class: ELFCLASS32") {
			t.Errorf("the loader said %q", stderr)
		}
		// Shipped, so that the node's loader says the same.
		if !hasFile(c, tt.path("w32/libb.so"), Regular) {
			t.Errorf("Files lack %s", tt.path("w32/libb.so"))
		}
	})
	t.Run("a file that is not ELF stops the loader", func(t *testing.T) {
		env := []string{"LD_LIBRARY_PATH=" + tt.path("text") + ":" + tt.path("lib")}
		c := resolveOK(t, tt.path("bin/runpath"), Options{Env: env})
		path := tt.path("text") + "/libb.so"
		if len(c.Missing) != 1 || c.Missing[0].String() != path+": invalid ELF header" {
			t.Errorf("Missing = %+v, want %s: invalid ELF header", c.Missing, path)
		}
		if stderr, _ := tt.run("bin/runpath", env); !strings.Contains(stderr, c.Missing[0].String()) {
			t.Errorf("the loader said %q, we say %q", stderr, c.Missing[0])
		}
	})
	t.Run("a short file stops the loader", func(t *testing.T) {
		tt.put(t, "short/libb.so", []byte("notelf\n"))
		env := []string{"LD_LIBRARY_PATH=" + tt.path("short") + ":" + tt.path("lib")}
		c := resolveOK(t, tt.path("bin/runpath"), Options{Env: env})
		if stderr, _ := tt.run("bin/runpath", env); len(c.Missing) != 1 || !strings.Contains(stderr, c.Missing[0].String()) {
			t.Errorf("the loader said %q, we say %v", stderr, c.Missing)
		}
	})
}

// TestHWCaps puts a copy of a library in a glibc-hwcaps subdirectory: a
// loader takes it on CPUs of that level and the plain one elsewhere, so
// the closure has both, the subdirectory's first.
func TestHWCaps(t *testing.T) {
	tt := newTestTree(t)
	libb := mustRead(t, tt.path("lib/libb.so"))
	tt.put(t, "hw/glibc-hwcaps/x86-64-v2/libb.so", libb)
	tt.put(t, "hw/libb.so", libb)
	env := []string{"LD_LIBRARY_PATH=" + tt.path("hw")}
	c := resolveOK(t, tt.path("bin/runpath"), Options{Env: env})
	v2, plain := tt.path("hw")+"/glibc-hwcaps/x86-64-v2/libb.so", tt.path("hw")+"/libb.so"
	var got []Object
	for _, o := range c.Objects {
		if o.Name == "libb.so" {
			got = append(got, o)
		}
	}
	want := []Object{{Name: "libb.so", Path: v2, CPU: "glibc-hwcaps/x86-64-v2/"}, {Name: "libb.so", Path: plain}}
	if !slices.Equal(got, want) {
		t.Errorf("libb.so objects = %+v, want %+v", got, want)
	}
	l := runLdd(t, tt.path("bin/runpath"), env, tt.dir)
	if p := l.byName["libb.so"]; p != v2 && p != plain {
		t.Errorf("ldd loads libb.so from %q, not one of ours", p)
	}
}

// TestRunInChrootWithOrigin runs a program whose libraries are found by
// $ORIGIN in a root rebuilt from its closure.
func TestRunInChrootWithOrigin(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	tt := newTestTree(t)
	for _, prog := range []string{"bin/rpath"} {
		c := resolveOK(t, tt.path(prog), Options{})
		root := buildRoot(t, c)
		if out, err := chrootRun(root, []string{tt.path(prog)}, nil); err != nil {
			t.Errorf("%s in a root of its closure: %v\n%s", prog, err, out)
		}
	}
}

// TestAsUser resolves as an unprivileged user through asuser: a library
// that user cannot read is passed over, as the loader run by that user
// passes it over, and a program they cannot read is an error.
func TestAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	tt := newTestTree(t)
	// t.TempDir's directories are 0700: let nobody in.
	for d := tt.dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	libb := mustRead(t, tt.path("lib/libb.so"))
	tt.put(t, "secret/libb.so", libb)
	os.Chmod(tt.path("secret/libb.so"), 0o600)
	env := []string{"LD_LIBRARY_PATH=" + tt.path("secret") + ":" + tt.path("lib")}
	nobody := asuser.Cred{UID: 65534, GID: 65534, Groups: []uint32{65534}}

	libbPath := func(c *Closure) string {
		for _, o := range c.Objects {
			if o.Name == "libb.so" {
				return o.Path
			}
		}
		return ""
	}
	c := resolveOK(t, tt.path("bin/runpath"), Options{Env: env})
	if got := libbPath(c); got != tt.path("secret")+"/libb.so" {
		t.Errorf("as root, libb.so => %q, want the secret one", got)
	}
	var asNobody *Closure
	err := asuser.Do(nobody, func() (err error) {
		asNobody, err = Resolve(tt.path("bin/runpath"), Options{Env: env})
		return err
	})
	if err != nil {
		t.Fatalf("Resolve as nobody: %v", err)
	}
	if got := libbPath(asNobody); got != tt.path("lib")+"/libb.so" {
		t.Errorf("as nobody, libb.so => %q, want %s/libb.so", got, tt.path("lib"))
	}
	if hasFile(asNobody, tt.path("secret/libb.so"), Regular) {
		t.Errorf("as nobody, the closure has the file nobody cannot read")
	}
	// The loader run by nobody agrees.
	cmd := exec.Command("ldd", tt.path("bin/runpath"))
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	if l := parseLdd(string(out)); l.byName["libb.so"] != tt.path("lib")+"/libb.so" {
		t.Errorf("ldd as nobody: %s", out)
	}

	os.Chmod(tt.path("bin/runpath"), 0o700)
	err = asuser.Do(nobody, func() error {
		_, err := Resolve(tt.path("bin/runpath"), Options{Env: env})
		return err
	})
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Resolve as nobody of a program only root may read: %v, want permission denied", err)
	}
}
