package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/wire"
)

// openFDs is how many descriptors this process has open.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestOpenStdioPipes: by default the child gets three pipes, whose other
// ends are ours and non-blocking (so that closing one stops its copy).
func TestOpenStdioPipes(t *testing.T) {
	s := testSlave(t)
	before := openFDs(t)
	st, err := s.openStdio(&wire.ProcStart{Command: wire.Command{Argv: []string{"x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if st.pty != nil {
		t.Error("a pty without -T")
	}
	for i, f := range []*os.File{st.stdin, st.stdout, st.stderr} {
		fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_NONBLOCK == 0 {
			t.Errorf("our end of %d is blocking (flags %#x, %v)", i, fl, err)
		}
	}
	// What we write to stdin the child reads on 0; what it writes on 1
	// and 2 we read.
	if _, err := st.stdin.Write([]byte("in")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := unix.Read(st.child[0], buf); err != nil || string(buf[:n]) != "in" {
		t.Errorf("child's stdin read %q, %v", buf[:n], err)
	}
	for i, f := range []*os.File{st.stdout, st.stderr} {
		if _, err := unix.Write(st.child[i+1], []byte("out")); err != nil {
			t.Fatal(err)
		}
		if n, err := f.Read(buf); err != nil || string(buf[:n]) != "out" {
			t.Errorf("child's fd %d came out as %q, %v", i+1, buf[:n], err)
		}
	}
	st.closeChildEnds()
	st.closeOurEnds()
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open after closing both ends, %d before", after, before)
	}
}

// TestOpenStdioNoIO: with -N the child's three are /dev/null and the node
// keeps no end of them.
func TestOpenStdioNoIO(t *testing.T) {
	s := testSlave(t)
	st, err := s.openStdio(&wire.ProcStart{Command: wire.Command{Argv: []string{"x"}, NoIO: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.closeChildEnds()
	if st.stdin != nil || st.stdout != nil || st.stderr != nil {
		t.Error("ends kept with -N")
	}
	var null unix.Stat_t
	if err := unix.Stat("/dev/null", &null); err != nil {
		t.Fatal(err)
	}
	for i, fd := range st.child {
		var s unix.Stat_t
		if err := unix.Fstat(fd, &s); err != nil || s.Rdev != null.Rdev || s.Mode&unix.S_IFMT != unix.S_IFCHR {
			t.Errorf("child's fd %d is not /dev/null (%v)", i, err)
		}
	}
}

// TestOpenStdioPTY: with -T the child's three are one terminal, at the
// window size asked for, and ours is its master side.
func TestOpenStdioPTY(t *testing.T) {
	s := testSlave(t)
	st, err := s.openStdio(&wire.ProcStart{Command: wire.Command{Argv: []string{"x"}, TTY: &wire.TTY{Window: wire.Window{Rows: 33, Cols: 101}}}})
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer st.closeOurEnds()
	defer st.closeChildEnds()
	if st.pty == nil || st.stdin != st.pty || st.stdout != st.pty || st.stderr != nil {
		t.Fatalf("ends with -T: pty %v stdin %v stdout %v stderr %v", st.pty, st.stdin, st.stdout, st.stderr)
	}
	for i, fd := range st.child {
		ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		if err != nil {
			t.Fatalf("child's fd %d is no terminal: %v", i, err)
		}
		if ws.Row != 33 || ws.Col != 101 {
			t.Errorf("child's fd %d window %dx%d, want 33x101", i, ws.Row, ws.Col)
		}
	}
}

// TestOpenStdioFileFails: a file the node cannot open for the caller
// fails the start with its name, and leaves no descriptor open.
func TestOpenStdioFileFails(t *testing.T) {
	s := testSlave(t)
	for _, ps := range []wire.ProcStart{
		{Command: wire.Command{Argv: []string{"x"}, StdinFile: "/nonexistent/in"}, UID: 1000, GID: 1000},
		{Command: wire.Command{Argv: []string{"x"}, NoIO: true, StdoutFile: "/nonexistent/out"}, UID: 1000, GID: 1000},
		{Command: wire.Command{Argv: []string{"x"}, StderrFile: "/proc/self/fd/0"}, UID: 1000, GID: 1000}, // a magic link: this daemon's
	} {
		before := openFDs(t)
		_, err := s.openStdio(&ps)
		name := ps.StdinFile + ps.StdoutFile + ps.StderrFile
		if err == nil || !strings.HasPrefix(err.Error(), "open "+name+": ") {
			t.Errorf("open %s: error %v, want one naming it", name, err)
		}
		if after := openFDs(t); after != before {
			t.Errorf("open %s: %d descriptors open after the failure, %d before", name, after, before)
		}
	}
}

// TestOpenStdioFiles: -O and -I open files as the caller, relative to the
// process's directory; -O truncates. Root only: the node acts as another
// user.
func TestOpenStdioFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: opens files as another user")
	}
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // t.TempDir's are root's alone
	os.Chmod(dir, 0o777)
	in := filepath.Join(dir, "in")
	os.WriteFile(in, []byte("input"), 0o644)
	out := filepath.Join(dir, "out")
	os.WriteFile(out, []byte("old content"), 0o666)
	os.Chown(out, 65534, 65534)
	s := testSlave(t)
	st, err := s.openStdio(&wire.ProcStart{Command: wire.Command{Argv: []string{"x"}, Dir: dir, StdinFile: "in", StdoutFile: "out"}, UID: 65534, GID: 65534})
	if err != nil {
		t.Fatal(err)
	}
	defer st.closeOurEnds()
	defer st.closeChildEnds()
	buf := make([]byte, 16)
	if n, err := unix.Read(st.child[0], buf); err != nil || string(buf[:n]) != "input" {
		t.Errorf("stdin file read %q, %v", buf[:n], err)
	}
	if _, err := unix.Write(st.child[1], []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "new" {
		t.Errorf("stdout file holds %q, want %q (truncated, then written)", b, "new")
	}
	// A file the caller may not write is not written.
	os.Chown(out, 0, 0)
	os.Chmod(out, 0o644)
	if _, err := s.openStdio(&wire.ProcStart{Command: wire.Command{Argv: []string{"x"}, Dir: dir, StdoutFile: "out"}, UID: 65534, GID: 65534}); err == nil {
		t.Error("opened root's 0644 file for writing as nobody")
	}
}
