package nodeview

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/wire"
)

// With answers the master watches, the permission checks are the same:
// what root read fills the kernel's caches for long and grants root's
// session its opens, none of which lets nobody read what nobody may not.
func TestPermissionsWatched(t *testing.T) {
	t.Setenv("MASTERVIEW_TEST_WATCHED", "1")
	TestPermissionsAreTheCallers(t)
}

// A watched answer is kept, by the kernel and by the view, until the
// master says the entry changed (Invalidate), and not after: a file's
// content, a name found missing, a link's target, a file's mode.
func TestWatchedIsKeptUntilInvalidated(t *testing.T) {
	t.Setenv("MASTERVIEW_TEST_WATCHED", "1")
	tv := mountTest(t, Options{})
	read := func(what, rel, want string, wantErr syscall.Errno) {
		t.Helper()
		out, e := asUser(t, nobody, "read", tv.path(rel))
		if out != want || e != wantErr {
			t.Errorf("%s: read %s as nobody = %q, %v; want %q, %v", what, rel, out, e, want, wantErr)
		}
	}
	f := tv.write(t, "dir/f", "version one\n", 0o644)
	read("first", "dir/f", "version one\n", 0)
	read("again", "dir/f", "version one\n", 0)
	tv.write(t, "dir/f", "version two\n", 0o644) // same size
	// Nobody told the view: it answers from what it has, asking nothing.
	read("changed, not told", "dir/f", "version one\n", 0)
	tv.Invalidate(wire.Inval{Paths: []string{f}})
	read("changed and told", "dir/f", "version two\n", 0)

	read("missing", "dir/g", "", syscall.ENOENT)
	g := tv.write(t, "dir/g", "made\n", 0o644)
	read("made, not told", "dir/g", "", syscall.ENOENT)
	tv.Invalidate(wire.Inval{Paths: []string{g}})
	read("made and told", "dir/g", "made\n", 0)

	tv.write(t, "dir/a", "aaa\n", 0o644)
	tv.write(t, "dir/b", "bbb\n", 0o644)
	link := filepath.Join(tv.master, "dir/link")
	os.Symlink("a", link)
	read("link", "dir/link", "aaa\n", 0)
	os.Remove(link)
	os.Symlink("b", link)
	tv.Invalidate(wire.Inval{Paths: []string{link}})
	read("link changed and told", "dir/link", "bbb\n", 0)

	// A directory's listing: kept until an entry in it changes.
	list := func(what, want string, wantErr syscall.Errno) {
		t.Helper()
		out, e := asUser(t, nobody, "list", tv.path("dir"))
		if out != want || e != wantErr {
			t.Errorf("%s: list dir as nobody = %q, %v; want %q, %v", what, out, e, want, wantErr)
		}
	}
	list("first", "a b f g link ", 0)
	list("again", "a b f g link ", 0)
	h := tv.write(t, "dir/h", "h\n", 0o644)
	// Kept, mostly: under load a full make test once saw the listing
	// fetched again before it was told (a cache the kernel may drop).
	// Fresher than needed is never wrong; stale once told would be.
	if out, e := asUser(t, nobody, "list", tv.path("dir")); out != "a b f g link " || e != 0 {
		t.Logf("an entry made, not told: list dir as nobody = %q, %v; the listing was not kept", out, e)
	}
	tv.Invalidate(wire.Inval{Paths: []string{h}})
	list("an entry made and told", "a b f g h link ", 0)

	// A mode taken away: the grant of nobody's earlier open goes with
	// the telling; the directory told, everything below it goes.
	os.Chmod(f, 0o600)
	tv.Invalidate(wire.Inval{Attrs: []string{filepath.Join(tv.master, "dir")}})
	read("made root's alone", "dir/f", "", syscall.EACCES)
	// A directory's mode changed: its entry stays (a working directory
	// there is no "deleted" one), what was kept below it goes.
	fd, err := unix.Open(tv.path("dir"), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	os.Chmod(filepath.Join(tv.master, "dir"), 0o700)
	tv.Invalidate(wire.Inval{Attrs: []string{filepath.Join(tv.master, "dir")}})
	if at, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err != nil || at != tv.path("dir") {
		t.Errorf("a directory held open after its mode changed is %q (%v), want %s", at, err, tv.path("dir"))
	}
	list("directory made root's alone", "", syscall.EACCES)
	os.Chmod(filepath.Join(tv.master, "dir"), 0o755)

	// Everything (the files connection was lost).
	os.Chmod(f, 0o644)
	tv.Invalidate(wire.Inval{All: true})
	read("all told", "dir/f", "version two\n", 0)
}
