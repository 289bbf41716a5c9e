package ghost

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSiblingStack runs siblings down their deepest path (a failed
// connect, whose message is built on the stack) besides the ordinary one,
// and measures from the arena, through /proc/PID/mem, how deep any
// sibling's stack went: it must stay well inside its slice (stub.c's
// SLICE), which has no guard page below it.
func TestSiblingStack(t *testing.T) {
	const slice, spec = 1024, 64
	dir := t.TempDir()
	sock := filepath.Join(dir, "m.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Groups of their own, whose parent (this test) is outside them: not
	// orphaned, so the kernel lets SIGTSTP stop them (see TestJobControl).
	g := &Group{Argv: []string{"deep"}, Socket: sock, Setpgid: true}
	defer g.Close()
	gs := startGhosts(t, g, ln, 3, nil)
	for _, gh := range gs[1:] {
		syscall.Kill(gh.pid, syscall.SIGTSTP)
		wantEvent(t, gh.c, syscall.SIGTSTP)
		gh.wait(t, syscall.WUNTRACED)
		syscall.Kill(gh.pid, syscall.SIGCONT)
		gh.wait(t, unix.WCONTINUED)
		wantEvent(t, gh.c, syscall.SIGCONT)
	}
	WriteSignal(gs[2].c, syscall.SIGTERM)
	gs[2].wait(t, 0)

	// The master's socket gone, a sibling fails to connect.
	ln.Close()
	os.Remove(sock)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := startIn(t, g, newToken(t), [3]*os.File{nil, nil, w})
	w.Close()
	if ws := p.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 255 {
		t.Errorf("sibling without a master: wait status %#x, want exit 255", uint32(ws))
	}
	var msg [200]byte
	n, _ := r.Read(msg[:])
	if want := "bproc ghost: connect " + sock + ": errno 2\n"; string(msg[:n]) != want {
		t.Errorf("sibling stderr = %q, want %q", msg[:n], want)
	}

	arena := findArena(t, gs[0].pid)
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", gs[0].pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	buf := make([]byte, arena[1]-arena[0])
	if _, err := mem.ReadAt(buf, int64(arena[0])); err != nil {
		t.Fatalf("read arena %#x-%#x: %v", arena[0], arena[1], err)
	}
	deepest, used := 0, 0
	for s := 0; s+slice <= len(buf); s += slice {
		b := buf[s : s+slice-spec]
		low := slices.IndexFunc(b[4:], func(c byte) bool { return c != 0 }) // past the pid word
		if low < 0 {
			continue
		}
		used++
		deepest = max(deepest, len(b)-4-low)
	}
	t.Logf("%d slices used; deepest sibling stack %d bytes of %d", used, deepest, slice-spec-4)
	if used != 3 {
		t.Errorf("%d slices used, want 3 (the search for a free one starts past the last taken)", used)
	}
	if deepest == 0 || deepest > slice-spec-4-192 {
		t.Errorf("deepest sibling stack %d bytes, want some, and at least 192 bytes of the slice's %d left", deepest, slice-spec-4)
	}
}

// findArena returns the writable part of the template's arena of
// sibling stacks: the anonymous read-write mapping right below the
// PROT_NONE rest of it.
func findArena(t *testing.T, pid int) [2]uint64 {
	t.Helper()
	r := arenaRanges(t, pid)
	if len(r) == 0 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
		t.Fatalf("no arena in /proc/%d/maps:\n%s", pid, b)
	}
	return r[0]
}
