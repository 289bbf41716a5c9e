package nodeview

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/contentcache"
)

// Both ways the kernel reads a copy: passthrough and through the view.
var readModes = []struct {
	name string
	opts Options
}{
	{"passthrough", Options{}},
	{"read", Options{NoPassthrough: true}},
}

func TestReadAndSecondOpenFetchesNothing(t *testing.T) {
	for _, m := range readModes {
		t.Run(m.name, func(t *testing.T) {
			tv := mountTest(t, m.opts)
			tv.write(t, "hello.txt", "hello from the master\n", 0o644)
			for i := 0; i < 3; i++ {
				b, err := os.ReadFile(tv.path("hello.txt"))
				if err != nil || string(b) != "hello from the master\n" {
					t.Fatalf("read %d: ReadFile = %q, %v", i, b, err)
				}
			}
			s := tv.Stats()
			if s.Fetches != 1 || s.FetchedBytes != 22 || s.Hits != 2 {
				t.Errorf("after 3 reads: fetches %d (%d bytes), hits %d; want 1 (22 bytes), 2",
					s.Fetches, s.FetchedBytes, s.Hits)
			}
			fi, err := os.Stat(tv.path("hello.txt"))
			if err != nil || fi.Size() != 22 || fi.Mode() != 0o644 {
				t.Errorf("Stat = %v, %v; want size 22, mode 0644", fi, err)
			}
		})
	}
}

// A user reads through the view exactly what they may read on the master.
func TestPermissionsAreTheCallers(t *testing.T) {
	tv := mountTest(t, Options{})
	tv.write(t, "secret", "root only\n", 0o600)
	tv.write(t, "public", "everyone\n", 0o644)
	tv.write(t, "closed/inside", "behind a closed door\n", 0o644)
	if err := os.Chmod(filepath.Join(tv.master, "closed"), 0o700); err != nil {
		t.Fatal(err)
	}

	// Root first: its lookups fill the kernel's caches, which must not
	// let nobody in.
	for _, f := range []string{"secret", "public", "closed/inside"} {
		if _, err := os.ReadFile(tv.path(f)); err != nil {
			t.Errorf("root: read %s: %v", f, err)
		}
	}
	if _, err := os.ReadDir(tv.path("closed")); err != nil {
		t.Errorf("root: list closed: %v", err)
	}
	tests := []struct {
		op, file string
		want     syscall.Errno
		out      string
	}{
		{"read", "secret", syscall.EACCES, ""},
		{"read", "public", 0, "everyone\n"},
		{"read", "closed/inside", syscall.EACCES, ""},
		{"list", "closed", syscall.EACCES, ""},
		{"read", "missing", syscall.ENOENT, ""},
	}
	for _, tt := range tests {
		out, e := asUser(t, nobody, tt.op, tv.path(tt.file))
		if e != tt.want || out != tt.out {
			t.Errorf("nobody: %s %s = %q, %v; want %q, %v", tt.op, tt.file, out, e, tt.out, tt.want)
		}
	}
	// And root still reads the secret after nobody was refused.
	if b, err := os.ReadFile(tv.path("secret")); err != nil || string(b) != "root only\n" {
		t.Errorf("root: read secret again = %q, %v", b, err)
	}
	if s := tv.Stats(); s.Dials != 2 {
		t.Errorf("sessions dialed = %d, want 2 (root and nobody)", s.Dials)
	}
}

func TestChangedFileIsFetchedAgain(t *testing.T) {
	for _, m := range readModes {
		t.Run(m.name, func(t *testing.T) {
			opts := m.opts
			opts.Timeout = 100 * time.Millisecond
			tv := mountTest(t, opts)
			p := tv.write(t, "conf", "version 1\n", 0o644)
			old, err := os.Open(tv.path("conf"))
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()
			readAll(t, old, "version 1\n")

			// Longer, and a new mtime.
			tv.write(t, "conf", "version two\n", 0o644)
			later := time.Now().Add(10 * time.Second)
			os.Chtimes(p, later, later)
			time.Sleep(300 * time.Millisecond) // past the kernel's timeout
			if b, err := os.ReadFile(tv.path("conf")); err != nil || string(b) != "version two\n" {
				t.Errorf("after the change: ReadFile = %q, %v; want version two", b, err)
			}
			// A program that opened the old version goes on reading it.
			readAll(t, old, "version 1\n")

			// Same size, only the mtime changes.
			tv.write(t, "conf", "version 333\n", 0o644)
			later = later.Add(10 * time.Second)
			os.Chtimes(p, later, later)
			time.Sleep(300 * time.Millisecond)
			if b, err := os.ReadFile(tv.path("conf")); err != nil || string(b) != "version 333\n" {
				t.Errorf("after a same-size change: ReadFile = %q, %v; want version 333", b, err)
			}
			old.Close()
			if s := tv.Stats(); s.Fetches != 3 || s.Files != 1 {
				t.Errorf("fetches %d, copies kept %d; want 3, 1 (old versions dropped)", s.Fetches, s.Files)
			}
			// The kernel releases a closed file after close returns.
			deadline := time.Now().Add(2 * time.Second)
			for len(cacheFiles(t, tv.cache)) > 1 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if names := cacheFiles(t, tv.cache); len(names) != 1 {
				t.Errorf("files in the cache dir = %q, want 1", names)
			}
		})
	}
}

func readAll(t *testing.T, f *os.File, want string) {
	t.Helper()
	b := make([]byte, 100)
	n, err := f.ReadAt(b, 0)
	if string(b[:n]) != want {
		t.Errorf("ReadAt(%s) = %q, %v; want %q", f.Name(), b[:n], err, want)
	}
}

func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	return dirNames(t, filepath.Join(dir, contentcache.SumDir))
}

func TestWritesFailReadOnly(t *testing.T) {
	tv := mountTest(t, Options{})
	tv.write(t, "file", "x", 0o666)
	tv.write(t, "dir/f", "y", 0o666)
	os.Chmod(filepath.Join(tv.master, "dir"), 0o777)
	tests := []struct {
		name string
		op   func() error
	}{
		{"create", func() error { return os.WriteFile(tv.path("new"), nil, 0o644) }},
		{"open for writing", func() error {
			f, err := os.OpenFile(tv.path("file"), os.O_WRONLY, 0)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"open read-write", func() error {
			f, err := os.OpenFile(tv.path("file"), os.O_RDWR, 0)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"truncate", func() error { return os.Truncate(tv.path("file"), 0) }},
		{"mkdir", func() error { return os.Mkdir(tv.path("d"), 0o755) }},
		{"remove", func() error { return os.Remove(tv.path("file")) }},
		{"rmdir", func() error { return os.Remove(tv.path("dir")) }},
		{"rename", func() error { return os.Rename(tv.path("file"), tv.path("dir/g")) }},
		{"symlink", func() error { return os.Symlink("file", tv.path("l")) }},
		{"chmod", func() error { return os.Chmod(tv.path("file"), 0o600) }},
		{"access W_OK", func() error { return unix.Access(tv.path("file"), unix.W_OK) }},
	}
	for _, tt := range tests {
		if err := tt.op(); !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", tt.name, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(tv.master, "file")); string(b) != "x" {
		t.Errorf("the master's file changed: %q", b)
	}
}

func TestSymlinksAndDirectories(t *testing.T) {
	tv := mountTest(t, Options{})
	tv.write(t, "dir/a", "A\n", 0o644)
	tv.write(t, "dir/b", "B\n", 0o755)
	os.Mkdir(filepath.Join(tv.master, "dir/sub"), 0o755)
	os.Symlink("dir/a", filepath.Join(tv.master, "rel"))
	os.Symlink("/etc/hostname", filepath.Join(tv.master, "abs"))
	os.Symlink("loop", filepath.Join(tv.master, "loop"))

	if fi, err := os.Lstat(tv.path("rel")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("Lstat(rel) = %v, %v; want a symlink", fi, err)
	}
	for link, want := range map[string]string{"rel": "dir/a", "abs": "/etc/hostname"} {
		if got, err := os.Readlink(tv.path(link)); got != want {
			t.Errorf("Readlink(%s) = %q, %v; want %q (the master's target, unchanged)", link, got, err, want)
		}
	}
	if b, err := os.ReadFile(tv.path("rel")); string(b) != "A\n" {
		t.Errorf("read through rel = %q, %v", b, err)
	}
	if _, err := os.ReadFile(tv.path("loop")); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("read through a loop = %v, want ELOOP", err)
	}
	if _, err := os.Stat(tv.path("dir/a/x")); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("stat under a file = %v, want ENOTDIR", err)
	}

	ents, err := os.ReadDir(tv.path("dir"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name()+" "+e.Type().String())
	}
	want := []string{"a ----------", "b ----------", "sub d---------"}
	if !slices.Equal(got, want) {
		t.Errorf("ReadDir(dir) = %q, want %q", got, want)
	}
	if fi, err := os.Stat(tv.path("dir/b")); err != nil || fi.Mode() != 0o755 {
		t.Errorf("Stat(dir/b) = %v, %v; want mode 0755", fi, err)
	}
	// An executable bit is what access(X_OK) and exec look at.
	if err := unix.Access(tv.path("dir/b"), unix.X_OK); err != nil {
		t.Errorf("access(dir/b, X_OK) = %v", err)
	}
	if err := unix.Access(tv.path("dir/a"), unix.X_OK); !errors.Is(err, syscall.EACCES) {
		t.Errorf("access(dir/a, X_OK) = %v, want EACCES", err)
	}
}

// Opens of one file that arrive while it is being fetched wait for that
// fetch, whoever they are.
func TestConcurrentOpensFetchOnce(t *testing.T) {
	tv := mountTest(t, Options{})
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<20/16)
	big[12345] = 'X'
	p := filepath.Join(tv.master, "big")
	if err := os.WriteFile(p, big, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(big)
	want := hex.EncodeToString(sum[:])

	started := make(chan struct{})
	gate := make(chan struct{})
	var once sync.Once
	tv.View.cache.SetBeforeFetch(func() {
		once.Do(func() { close(started) })
		<-gate
	})
	const readers = 3
	var wg sync.WaitGroup
	sums := make([]string, readers+1)
	for i := range readers {
		wg.Go(func() {
			b, err := os.ReadFile(tv.path("big"))
			if err != nil {
				t.Errorf("reader %d: %v", i, err)
			}
			s := sha256.Sum256(b)
			sums[i] = hex.EncodeToString(s[:])
		})
	}
	wg.Go(func() {
		var e syscall.Errno
		var err error
		sums[readers], e, err = asUserErr(nobody, "sha256", tv.path("big"))
		if err != nil || e != 0 {
			t.Errorf("nobody: %v %v", e, err)
		}
	})

	<-started
	// Everybody else joins the fetch that is held open.
	deadline := time.Now().Add(10 * time.Second)
	for tv.Stats().Shared < readers && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(gate)
	wg.Wait()
	for i, s := range sums {
		if s != want {
			t.Errorf("reader %d read content with sha256 %s, want %s", i, s, want)
		}
	}
	if s := tv.Stats(); s.Fetches != 1 || s.Shared != readers || s.FetchedBytes != int64(len(big)) {
		t.Errorf("fetches %d (%d bytes), shared %d; want 1 (%d bytes), %d",
			s.Fetches, s.FetchedBytes, s.Shared, len(big), readers)
	}
}

func TestExcludedPaths(t *testing.T) {
	t.Run("explicit", func(t *testing.T) {
		tv := mountTest(t, Options{}, func(master string, o *Options) {
			o.Exclude = []string{filepath.Join(master, "hidden")}
		})
		tv.write(t, "hidden/f", "no", 0o644)
		tv.write(t, "shown", "yes", 0o644)
		if _, err := os.Stat(tv.path("hidden")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Stat(hidden) = %v, want not exist", err)
		}
		if names := dirNames(t, tv.mnt); !slices.Equal(names, []string{"shown"}) {
			t.Errorf("ReadDir = %q, want [shown]", names)
		}
	})
	t.Run("default", func(t *testing.T) {
		tv := mountTest(t, Options{Root: "/"})
		names := dirNames(t, tv.mnt)
		for _, n := range []string{"proc", "sys", "dev"} {
			if slices.Contains(names, n) {
				t.Errorf("the view of / shows %s: %q", n, names)
			}
			if _, err := os.Stat(tv.path(n)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Stat(%s) = %v, want not exist", n, err)
			}
		}
		want, _ := os.ReadFile("/etc/os-release")
		if got, err := os.ReadFile(tv.path("etc/os-release")); err != nil || !bytes.Equal(got, want) {
			t.Errorf("read etc/os-release = %d bytes, %v; want %d bytes", len(got), err, len(want))
		}
	})
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// A master that goes away costs a new session, not a failed read.
func TestSessionReconnects(t *testing.T) {
	tv := mountTest(t, Options{})
	tv.write(t, "a", "first\n", 0o644)
	tv.write(t, "b", "second\n", 0o644)
	if _, err := os.ReadFile(tv.path("a")); err != nil {
		t.Fatal(err)
	}
	tv.d.killAll()
	deadline := time.Now().Add(5 * time.Second)
	for tv.d.running() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b, err := os.ReadFile(tv.path("b")); err != nil || string(b) != "second\n" {
		t.Errorf("read after the server died = %q, %v", b, err)
	}
	if s := tv.Stats(); s.Dials != 2 {
		t.Errorf("dials = %d, want 2", s.Dials)
	}
}

func TestIdleSessionsAreClosed(t *testing.T) {
	tv := mountTest(t, Options{IdleTimeout: 100 * time.Millisecond})
	tv.write(t, "a", "x", 0o644)
	if _, err := os.ReadFile(tv.path("a")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for (tv.Stats().Sessions > 0 || tv.d.running() > 0) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s := tv.Stats(); s.Sessions != 0 || tv.d.running() != 0 {
		t.Errorf("after idling: %d sessions, %d servers; want 0, 0", s.Sessions, tv.d.running())
	}
	if _, err := os.Stat(tv.path("a")); err != nil {
		t.Errorf("stat after the idle session closed: %v", err)
	}
}

// The size limit evicts copies nobody reads, least recently used first,
// and never one that is open.
func TestCacheLimit(t *testing.T) {
	const mb = 1 << 20
	tv := mountTest(t, Options{CacheSize: 3 * mb})
	for _, n := range []string{"1", "2", "3", "4", "5"} {
		tv.write(t, n, strings.Repeat(n, mb), 0o644)
	}
	held, err := os.Open(tv.path("1"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for _, n := range []string{"2", "3", "4", "5"} {
		if b, err := os.ReadFile(tv.path(n)); err != nil || len(b) != mb {
			t.Fatalf("read %s: %d bytes, %v", n, len(b), err)
		}
	}
	s := tv.Stats()
	if s.Bytes > 3*mb || s.Evictions != 2 {
		t.Errorf("cache holds %d bytes after %d evictions; want <= %d after 2", s.Bytes, s.Evictions, 3*mb)
	}
	b := make([]byte, mb)
	if n, err := held.ReadAt(b, 0); n != mb || b[mb-1] != '1' {
		t.Errorf("reading the open file after evictions: %d bytes, %v", n, err)
	}
	// 1 (open) and 5 (newest) stay.
	before := tv.Stats().Fetches
	for _, n := range []string{"1", "5"} {
		os.ReadFile(tv.path(n))
	}
	if f := tv.Stats().Fetches; f != before {
		t.Errorf("reading the open and the newest file fetched %d times, want 0", f-before)
	}
}

// Copies outlive the mount: a view mounted again on the same cache fetches
// nothing it already has.
func TestRemountKeepsCopies(t *testing.T) {
	tv := mountTest(t, Options{})
	tv.write(t, "lib.so", "code", 0o644)
	if _, err := os.ReadFile(tv.path("lib.so")); err != nil {
		t.Fatal(err)
	}
	if err := tv.View.Unmount(); err != nil {
		t.Fatal(err)
	}
	v, err := Mount(tv.mnt, Options{Root: tv.master, Dial: tv.d.dial, CacheDir: tv.cache})
	if err != nil {
		t.Fatal(err)
	}
	tv.View = v
	t.Cleanup(func() { v.Unmount() })
	if b, err := os.ReadFile(tv.path("lib.so")); err != nil || string(b) != "code" {
		t.Errorf("read after remount = %q, %v", b, err)
	}
	if s := v.Stats(); s.Fetches != 0 || s.Hits != 1 {
		t.Errorf("after remount: fetches %d, hits %d; want 0, 1", s.Fetches, s.Hits)
	}
}

// A view in use is detached: it leaves the mount table at once, and files
// already open still read.
func TestUnmountWhileInUse(t *testing.T) {
	tv := mountTest(t, Options{})
	tv.write(t, "f", "still here\n", 0o644)
	f, err := os.Open(tv.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tv.View.Unmount(); err != nil {
		t.Fatalf("Unmount with a file open = %v", err)
	}
	if mounted(t, tv.mnt) {
		t.Errorf("%s still mounted", tv.mnt)
	}
	readAll(t, f, "still here\n")
}

// Programs run from the view and map it (the loader maps the executable and
// its libraries; dlopen does the same), read or passthrough, as any user.
//
// They are started by a helper process, never by this one: os/exec forks
// with CLONE_VFORK, which holds the forking thread in the kernel until the
// child's execve is done, and the Go runtime cannot stop the world while it
// waits. An execve that reads from the view needs the view's server, which
// the next garbage collection stops: the process hangs. The node daemon
// must likewise not be the view's server and also vfork programs that live
// in the view.
func TestExecFromTheView(t *testing.T) {
	for _, m := range readModes {
		t.Run(m.name, func(t *testing.T) {
			tv := mountTest(t, m.opts)
			if err := copyFile("/usr/bin/echo", filepath.Join(tv.master, "echo"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, uid := range []uint32{0, nobody} {
				if out, e := asUser(t, uid, "exec", tv.path("echo")); e != 0 || out != "ran from the view\n" {
					t.Errorf("uid %d: echo = %q, %v", uid, out, e)
				}
			}
		})
	}
}

// Mount points are empty directories whatever the master has, listed
// with the rest, answered without a session, and a file system mounted
// on one is served by the node.
func TestMountPoints(t *testing.T) {
	tv := mountTest(t, Options{}, func(master string, o *Options) {
		o.MountPoints = []string{filepath.Join(master, "proc"), filepath.Join(master, "absent")}
		o.Exclude = []string{filepath.Join(master, "proc")}
	})
	tv.write(t, "proc/masters-own", "the master's", 0o644)
	tv.write(t, "shown", "yes", 0o644)
	if names := dirNames(t, tv.mnt); !slices.Equal(names, []string{"absent", "proc", "shown"}) {
		t.Errorf("ReadDir = %q, want [absent proc shown]", names)
	}
	for _, mp := range []string{"proc", "absent"} {
		fi, err := os.Stat(tv.path(mp))
		if err != nil || !fi.IsDir() {
			t.Errorf("Stat(%s) = %v, %v; want a directory", mp, fi, err)
			continue
		}
		if names := dirNames(t, tv.path(mp)); len(names) != 0 {
			t.Errorf("ReadDir(%s) = %q, want it empty", mp, names)
		}
	}
	dials := tv.Stats().Dials
	if err := syscall.Mount("node-own", tv.path("absent"), "tmpfs", 0, "size=64k"); err != nil {
		t.Fatalf("mount a tmpfs on a mount point: %v", err)
	}
	defer syscall.Unmount(tv.path("absent"), syscall.MNT_DETACH)
	if err := os.WriteFile(tv.path("absent/f"), []byte("node"), 0o644); err != nil {
		t.Errorf("write on the mounted tmpfs: %v", err)
	}
	if b, err := os.ReadFile(tv.path("absent/f")); string(b) != "node" {
		t.Errorf("read back = %q, %v", b, err)
	}
	if d := tv.Stats().Dials - dials; d != 0 {
		t.Errorf("mounting on a mount point dialed the master %d times", d)
	}
}

// A node whose memory for copies is full says so (ENOSPC) and keeps no
// half copy; smaller files still work.
func TestCacheFull(t *testing.T) {
	cacheDir := t.TempDir()
	if err := syscall.Mount("cache", cacheDir, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("tmpfs for the cache: %v", err)
	}
	defer syscall.Unmount(cacheDir, syscall.MNT_DETACH)
	tv := mountTest(t, Options{CacheDir: cacheDir})
	tv.write(t, "big", strings.Repeat("x", 1<<20), 0o644)
	tv.write(t, "small", "fits", 0o644)
	_, err := os.ReadFile(tv.path("big"))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("read a file larger than the node's room for copies: %v, want ENOSPC", err)
	}
	if ents := cacheFiles(t, cacheDir); len(ents) != 0 {
		t.Errorf("left in the cache after the failed fetch: %v", ents)
	}
	if b, err := os.ReadFile(tv.path("small")); string(b) != "fits" {
		t.Errorf("a small file after that: %q, %v", b, err)
	}
}

// With an upper layer, what programs write stays on the node: new files
// and directories, master files changed (copied up first) and removed
// (whited out), renames; the master's files are never touched, and the
// node's kernel holds users to the modes shown.
func TestUpperLayer(t *testing.T) {
	upper := t.TempDir()
	tv := mountTest(t, Options{Upper: upper})
	tv.write(t, "dir/master.txt", "from the master\n", 0o644)
	tv.write(t, "dir/gone.txt", "to be removed\n", 0o644)
	tv.write(t, "rootonly/x", "x", 0o644)
	os.Chmod(filepath.Join(tv.master, "rootonly"), 0o755)

	// A new file, read back, listed with the master's.
	if err := os.WriteFile(tv.path("dir/new.txt"), []byte("made on the node\n"), 0o644); err != nil {
		t.Fatalf("create: %v", err)
	}
	if b, err := os.ReadFile(tv.path("dir/new.txt")); string(b) != "made on the node\n" {
		t.Errorf("read back = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(tv.master, "dir/new.txt")); err == nil {
		t.Error("a file made on the node appeared on the master")
	}
	if b, err := os.ReadFile(filepath.Join(upper, "dir/new.txt")); string(b) != "made on the node\n" {
		t.Errorf("in the upper layer = %q, %v", b, err)
	}
	// A master file changed: the node's copy changes, the master's not.
	f, err := os.OpenFile(tv.path("dir/master.txt"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("open a master file for writing: %v", err)
	}
	f.WriteString("and from the node\n")
	f.Close()
	if b, _ := os.ReadFile(tv.path("dir/master.txt")); string(b) != "from the master\nand from the node\n" {
		t.Errorf("changed file in the view = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(tv.master, "dir/master.txt")); string(b) != "from the master\n" {
		t.Errorf("the master's file changed: %q", b)
	}
	// A master file removed: gone from the view, still on the master.
	if err := os.Remove(tv.path("dir/gone.txt")); err != nil {
		t.Errorf("remove a master file: %v", err)
	}
	if _, err := os.Stat(tv.path("dir/gone.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a removed file: %v, want it gone", err)
	}
	if _, err := os.Stat(filepath.Join(tv.master, "dir/gone.txt")); err != nil {
		t.Errorf("the master's copy of a file removed on the node: %v", err)
	}
	// Directories, and a rename.
	if err := os.MkdirAll(tv.path("dir/sub/deeper"), 0o755); err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	if err := os.Rename(tv.path("dir/new.txt"), tv.path("dir/sub/deeper/moved.txt")); err != nil {
		t.Errorf("rename: %v", err)
	}
	if b, err := os.ReadFile(tv.path("dir/sub/deeper/moved.txt")); string(b) != "made on the node\n" {
		t.Errorf("renamed file = %q, %v", b, err)
	}
	if names := dirNames(t, tv.path("dir")); !slices.Equal(names, []string{"master.txt", "sub"}) {
		t.Errorf("listing = %q, want [master.txt sub]", names)
	}
	// The modes shown are the rules: nobody may not write in root's
	// directory, and may in one of its own.
	if _, e := asUser(t, nobody, "create", tv.path("rootonly/mine")); e != syscall.EACCES {
		t.Errorf("nobody creating in root's 0755 directory: errno %v, want EACCES", e)
	}
	os.MkdirAll(tv.path("dir/open"), 0o777)
	os.Chmod(tv.path("dir/open"), 0o777)
	if _, e := asUser(t, nobody, "create", tv.path("dir/open/mine")); e != 0 {
		t.Errorf("nobody creating in a 0777 directory: errno %v", e)
	}
	if fi, err := os.Stat(tv.path("dir/open/mine")); err == nil {
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody {
			t.Errorf("nobody's new file is owned by %d", st.Uid)
		}
	}
}

// A file rewritten on the master with its size and mtime put back (touch
// -r) is other content: the view asks the master for the content's sum on
// every open, so it fetches the file again and reads the new bytes, also
// through an inode the kernel still trusts.
func TestSameSizeAndMtimeOtherContent(t *testing.T) {
	for _, m := range readModes {
		t.Run(m.name, func(t *testing.T) {
			tv := mountTest(t, m.opts)
			p := tv.write(t, "prog.conf", "mode=alpha\n", 0o644)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(tv.path("prog.conf")); string(b) != "mode=alpha\n" {
				t.Fatalf("first read = %q, %v", b, err)
			}
			tv.write(t, "prog.conf", "mode=omega\n", 0o644)
			if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(tv.path("prog.conf")); string(b) != "mode=omega\n" {
				t.Errorf("read after a rewrite with size and mtime put back = %q, %v; want mode=omega", b, err)
			}
			if s := tv.Stats(); s.Fetches != 2 {
				t.Errorf("fetches %d, want 2", s.Fetches)
			}
		})
	}
}

// Two master paths with the same content are one copy on the node, fetched
// once.
func TestSameContentStoredOnce(t *testing.T) {
	tv := mountTest(t, Options{})
	content := strings.Repeat("the same bytes\n", 1000)
	tv.write(t, "a/lib.so", content, 0o644)
	tv.write(t, "b/lib.so", content, 0o755)
	for _, p := range []string{"a/lib.so", "b/lib.so", "a/lib.so"} {
		if b, err := os.ReadFile(tv.path(p)); string(b) != content {
			t.Fatalf("read %s: %d bytes, %v", p, len(b), err)
		}
	}
	s := tv.Stats()
	if s.Fetches != 1 || s.FetchedBytes != int64(len(content)) || s.Hits != 2 || s.Files != 1 {
		t.Errorf("stats %+v; want 1 fetch of %d bytes, 2 hits, 1 copy", s, len(content))
	}
	sum := sha256.Sum256([]byte(content))
	if files := cacheFiles(t, tv.cache); len(files) != 1 || files[0] != hex.EncodeToString(sum[:]) {
		t.Errorf("copies %q, want one named by the content's sha256", files)
	}
}

// A master that gives no sum (an older one, or a file that changed while
// it was hashed) is still read right, but nothing is kept.
func TestNoSumNothingKept(t *testing.T) {
	t.Setenv("MASTERVIEW_TEST_NOSUMS", "1")
	tv := mountTest(t, Options{})
	tv.write(t, "f", "no sum for me\n", 0o644)
	for i := 0; i < 2; i++ {
		if b, err := os.ReadFile(tv.path("f")); string(b) != "no sum for me\n" {
			t.Fatalf("read %d = %q, %v", i, b, err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(cacheFiles(t, tv.cache)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := tv.Stats(); s.Fetches != 2 || s.Files != 0 || len(cacheFiles(t, tv.cache)) != 0 {
		t.Errorf("stats %+v, copies %q; want 2 fetches and nothing kept", s, cacheFiles(t, tv.cache))
	}
}
