package ghost

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

func cmdline(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func waitCmdline(t *testing.T, pid int, want string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for cmdline(t, pid) != want {
		if time.Now().After(deadline) {
			t.Fatalf("ghost %d: cmdline %q, want %q", pid, cmdline(t, pid), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestExec: CmdExec makes a ghost show a new argv, the template of a
// group and a sibling alike; each is the same process after it (PID,
// parent, connection, signal relay, its stdio) and the template still
// makes siblings.
func TestExec(t *testing.T) {
	ln := listen(t)
	g := &Group{Argv: []string{"sh", "-c", "exec sleep 300"}, Socket: ln.Addr().String()}
	defer g.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gs := startGhosts(t, g, ln, 2, func(int) [3]*os.File { return [3]*os.File{nil, w, nil} })
	w.Close()
	for _, gh := range gs {
		if err := WriteExec(gh.c, []string{"sleep", "300"}); err != nil {
			t.Fatal(err)
		}
		waitCmdline(t, gh.pid, "sleep\x00300\x00")
		// The new program names itself (comm) right after the exec.
		waitFor(t, func() bool {
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", gh.pid))
			return string(comm) == "sleep\n"
		})
		syscall.Kill(gh.pid, syscall.SIGUSR1)
		wantEvent(t, gh.c, syscall.SIGUSR1)
		// Its stdout is still the caller's.
		if fd1, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/1", gh.pid)); err != nil || !strings.HasPrefix(fd1, "pipe:") {
			t.Errorf("ghost %d: fd 1 %q (%v), want the pipe", gh.pid, fd1, err)
		}
	}
	// Exec'd again, and with an argv longer than ever, cut to the bound.
	long := []string{"x", strings.Repeat("y", MaxExecArgv)}
	WriteExec(gs[1].c, long)
	waitCmdline(t, gs[1].pid, "x\x00")
	// The template still serves: a third ghost.
	more := startGhosts(t, g, ln, 1, nil)
	syscall.Kill(more[0].pid, syscall.SIGUSR2)
	wantEvent(t, more[0].c, syscall.SIGUSR2)
	for _, gh := range append(gs, more...) {
		WriteExit(gh.c, 3)
		if ws := gh.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 3 {
			t.Errorf("ghost %d: wait status %#x, want exit 3", gh.pid, uint32(ws))
		}
	}
}

// TestSetpgidSetsid: the ghost takes the process group and session it is
// told.
func TestSetpgidSetsid(t *testing.T) {
	ln := listen(t)
	a := start(t, attr{Argv: []string{"a"}, Socket: ln.Addr().String(), Token: newToken(t)})
	ca, _ := accept(t, ln)
	// A child of its own, as a descendant's ghost is.
	b, cb := forkGhost(t, ca, a.pid)
	WriteSetpgid(cb, b)
	waitFor(t, func() bool { p, _ := unix.Getpgid(b); return p == b })
	WriteSetpgid(cb, a.pid) // a's group does not exist: nothing changes
	WriteSetsid(ca)         // a is no group leader: it may
	waitFor(t, func() bool { s, _ := unix.Getsid(a.pid); return s == a.pid })
	if p, _ := unix.Getpgid(b); p != b {
		t.Errorf("ghost %d: group %d, want its own", b, p)
	}
	WriteExit(ca, 0)
	a.wait(t, 0)
}

func fdOf(t *testing.T, c interface {
	SyscallConn() (syscall.RawConn, error)
}) int {
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(testTimeout); !ok(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not so after", testTimeout)
		}
	}
}

func TestExecArgv(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{nil, ""},
		{[]string{"a", "b c"}, "a\x00b c\x00"},
		{[]string{"a\x00b"}, "a\x00"},
		{[]string{strings.Repeat("z", MaxExecArgv+5)}, strings.Repeat("z", MaxExecArgv-1) + "\x00"},
		{[]string{"a", strings.Repeat("z", MaxExecArgv)}, "a\x00"},
		{make([]string, MaxExecArgs+3), strings.Repeat("\x00", MaxExecArgs)},
	} {
		if got := ExecArgv(c.argv); !bytes.Equal(got, []byte(c.want)) {
			t.Errorf("ExecArgv(%.40q) = %.40q, want %.40q", c.argv, got, c.want)
		}
	}
}

// BenchmarkExec measures a ghost's re-exec on CmdExec: the wall time from
// the command to the new argv in /proc, and the CPU time the ghost spent
// (the master's side of a remote exec; the node's is
// node.BenchmarkSpaceExec), and what the ghost then holds (PSS).
func BenchmarkExec(b *testing.B) {
	ln := listen(b)
	p := start(b, attr{Argv: []string{"sh"}, Socket: ln.Addr().String(), Token: newToken(b)})
	c, _ := accept(b, ln)
	c.SetDeadline(time.Time{})
	argv := [2][]string{{"sleep", "300"}, {"sleep", "301"}}
	want := [2]string{"sleep\x00300\x00", "sleep\x00301\x00"}
	ticks := func() float64 {
		st, err := procfs.ReadStat(p.pid)
		if err != nil {
			b.Fatal(err)
		}
		return float64(st.UTime + st.STime)
	}
	before := ticks()
	b.ResetTimer()
	for i := range b.N {
		if err := WriteExec(c, argv[i%2]); err != nil {
			b.Fatal(err)
		}
		for {
			got, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid))
			if string(got) == want[i%2] {
				break
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	b.StopTimer()
	b.ReportMetric((ticks()-before)*1e4/float64(b.N), "ghost-cpu-µs/exec") // USER_HZ 100
	b.ReportMetric(procKB(b, fmt.Sprintf("/proc/%d/smaps_rollup", p.pid), "Pss:"), "pss-kB")
	WriteExit(c, 0)
}
