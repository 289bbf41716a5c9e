package ghost

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// kcmpVM says whether two processes share one address space.
func kcmpVM(t testing.TB, a, b int) bool {
	t.Helper()
	c, err := CompareMemory(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return c == 0
}

// children lists this process's children, from every thread's list (a
// child hangs off the thread that forked it, and a sibling off the one
// that forked its template).
func children(t testing.TB) []int {
	t.Helper()
	set, err := procfs.Children(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(set))
}

// wantChildren checks that this process's children are exactly pids
// (and the ones it had before, in before): no ghost nobody knows of.
func wantChildren(t *testing.T, before []int, pids ...int) {
	t.Helper()
	want := slices.Concat(before, pids)
	slices.Sort(want)
	if got := children(t); !slices.Equal(got, want) {
		t.Errorf("children = %v, want %v", got, want)
	}
}

// procState is the state letter of /proc/PID/stat.
func procState(t testing.TB, pid int) byte {
	t.Helper()
	st, err := procfs.ReadStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	return st.State
}

// ghostOf is a started ghost and the master's end of it.
type ghostOf struct {
	*proc
	c   *net.UnixConn
	h   Hello
	tok Token
}

// startGhosts starts n ghosts of g, each with its own token and the
// files files(i) gives, and accepts them, matching hellos to ghosts by
// token.
func startGhosts(t *testing.T, g *Group, ln *net.UnixListener, n int, files func(i int) [3]*os.File) []ghostOf {
	t.Helper()
	gs := make([]ghostOf, n)
	byToken := map[Token]int{}
	for i := range gs {
		gs[i].tok = newToken(t)
		byToken[gs[i].tok] = i
		var f [3]*os.File
		if files != nil {
			f = files(i)
		}
		gs[i].proc = startIn(t, g, gs[i].tok, f)
	}
	for range gs {
		c, h := accept(t, ln)
		i, ok := byToken[h.Token]
		if !ok || gs[i].c != nil {
			t.Fatalf("hello with unknown or reused token %v", h.Token)
		}
		gs[i].c, gs[i].h = c, h
	}
	return gs
}

// TestGroup starts five ghosts of one group: the first is exec'd, the
// others are its siblings. All share one address space and no other
// group's, are children of this process, show the argv, hand over their
// own fds, relay only their own signals and die each their own way.
func TestGroup(t *testing.T) {
	// A core file would be written if a ghost were dumpable, and here.
	allowCores(t)
	dir := t.TempDir()
	t.Chdir(dir)
	before := children(t)

	ln := listen(t)
	g := &Group{Argv: []string{"/usr/bin/remote-prog", "-x", "y z"}, Socket: ln.Addr().String()}
	defer g.Close()
	const n = 5
	outs := make([]*os.File, n)
	for i := range outs {
		f, err := os.Create(filepath.Join(t.TempDir(), fmt.Sprint("out", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		outs[i] = f
	}
	gs := startGhosts(t, g, ln, n, func(i int) [3]*os.File {
		if i == 3 {
			return [3]*os.File{} // one with no stdio at all
		}
		return [3]*os.File{nil, outs[i], outs[(i+1)%n]}
	})
	wantChildren(t, before, gs[0].pid, gs[1].pid, gs[2].pid, gs[3].pid, gs[4].pid)

	other := start(t, attr{Argv: []string{"other"}, Socket: ln.Addr().String(), Token: newToken(t)})
	oc, _ := accept(t, ln)
	for i, gh := range gs {
		if i > 0 && !kcmpVM(t, gs[0].pid, gh.pid) {
			t.Errorf("ghost %d (%d) does not share the template's (%d) address space", i, gh.pid, gs[0].pid)
		}
		if kcmpVM(t, other.pid, gh.pid) {
			t.Errorf("ghost %d (%d) shares the address space of another group's ghost", i, gh.pid)
		}
		proc := fmt.Sprintf("/proc/%d/", gh.pid)
		if b, err := os.ReadFile(proc + "cmdline"); err != nil || string(b) != "/usr/bin/remote-prog\x00-x\x00y z\x00" {
			t.Errorf("%scmdline = %q, %v, want the remote argv", proc, b, err)
		}
		if b, err := os.ReadFile(proc + "comm"); err != nil || string(b) != "remote-prog\n" {
			t.Errorf("%scomm = %q, %v, want %q", proc, b, err, "remote-prog\n")
		}
		if pgid, _ := syscall.Getpgid(gh.pid); pgid != syscall.Getpgrp() {
			t.Errorf("ghost %d: pgid %d, want the caller's %d", i, pgid, syscall.Getpgrp())
		}
		for fd, f := range gh.h.Files {
			want := i != 3 && fd > 0
			if (f != nil) != want {
				t.Fatalf("ghost %d: hello Files[%d] = %v, want present %v", i, fd, f, want)
			}
		}
		if i != 3 {
			if got, want := fstatID(t, gh.h.Files[1]), fstatID(t, outs[i]); got != want {
				t.Errorf("ghost %d: hello fd 1 is %v, want its own file %v", i, got, want)
			}
			if got, want := fstatID(t, gh.h.Files[2]), fstatID(t, outs[(i+1)%n]); got != want {
				t.Errorf("ghost %d: hello fd 2 is %v, want %v", i, got, want)
			}
		}
	}

	// A signal of its own to each (real-time ones, which queue); each
	// master connection must see exactly its ghost's, and the next
	// event must be the SIGUSR2 sent after: nothing reached another.
	for i, gh := range gs {
		syscall.Kill(gh.pid, syscall.Signal(34+i))
	}
	for i, gh := range gs {
		wantEvent(t, gh.c, syscall.Signal(34+i))
	}
	for _, gh := range gs {
		syscall.Kill(gh.pid, syscall.SIGUSR2)
	}
	for _, gh := range gs {
		wantEvent(t, gh.c, syscall.SIGUSR2)
	}

	// In its loop, a sibling holds its fds 0-2, a socket and a signalfd:
	// nothing of the template's (its control socket, its stdio).
	for _, i := range []int{1, 3} {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", gs[i].pid))
		var fds []string
		for _, e := range ents {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", gs[i].pid, e.Name()))
			fds = append(fds, e.Name()+" -> "+l)
		}
		want := 4 // 1, 2 (its 0 is closed), the socket, the signalfd
		if i == 3 {
			want = 2
		}
		if err != nil || len(fds) != want || !strings.Contains(fds[want-2], "socket:") || !strings.Contains(fds[want-1], "signalfd") {
			t.Errorf("sibling %d fds = %q, %v; want its stdio, a socket and a signalfd", i, fds, err)
		}
	}

	// Deaths, the one that could dump core first: the others must live on.
	syscall.Kill(gs[2].pid, syscall.SIGUSR1)
	wantEvent(t, gs[2].c, syscall.SIGUSR1)
	WriteSignal(gs[2].c, syscall.SIGSEGV)
	if ws := gs[2].wait(t, 0); !ws.Signaled() || ws.Signal() != syscall.SIGSEGV || ws.CoreDump() {
		t.Errorf("sibling told SIGSEGV: wait status %#x, want killed by SIGSEGV, no core", uint32(ws))
	}
	for _, i := range []int{0, 1, 3, 4} {
		syscall.Kill(gs[i].pid, syscall.SIGHUP)
		wantEvent(t, gs[i].c, syscall.SIGHUP)
	}
	// The template, before its siblings, by another core-dumping signal.
	WriteSignal(gs[0].c, syscall.SIGQUIT)
	if ws := gs[0].wait(t, 0); !ws.Signaled() || ws.Signal() != syscall.SIGQUIT || ws.CoreDump() {
		t.Errorf("template told SIGQUIT: wait status %#x, want killed by SIGQUIT, no core", uint32(ws))
	}
	for _, i := range []int{1, 3, 4} {
		syscall.Kill(gs[i].pid, syscall.SIGWINCH)
		wantEvent(t, gs[i].c, syscall.SIGWINCH)
	}
	WriteSignal(gs[1].c, syscall.SIGTERM)
	WriteExit(gs[3].c, 0)
	WriteExit(gs[4].c, 255)
	if ws := gs[1].wait(t, 0); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("sibling told SIGTERM: wait status %#x", uint32(ws))
	}
	if ws := gs[3].wait(t, 0); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("sibling told exit 0: wait status %#x", uint32(ws))
	}
	if ws := gs[4].wait(t, 0); !ws.Exited() || ws.ExitStatus() != 255 {
		t.Errorf("sibling told exit 255: wait status %#x", uint32(ws))
	}
	WriteExit(oc, 1)
	other.wait(t, 0)
	wantChildren(t, before)
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("files left in the ghosts' cwd: %v, want none (no core files)", ents)
	}
}

// allowCores raises RLIMIT_CORE to its hard limit for the test.
func allowCores(t *testing.T) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(unix.RLIMIT_CORE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max > 0 {
		raised := rl
		raised.Cur = rl.Max
		if err := syscall.Setrlimit(unix.RLIMIT_CORE, &raised); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Setrlimit(unix.RLIMIT_CORE, &rl) })
	}
}

// TestGroupKill checks SIGKILL and SIGSTOP on one ghost of a group: they
// act on that ghost alone, and a template killed does not stop the group
// from starting more ghosts (the next one is a new template).
func TestGroupKill(t *testing.T) {
	before := children(t)
	ln := listen(t)
	g := &Group{Argv: []string{"sleep", "300"}, Socket: ln.Addr().String()}
	defer g.Close()
	gs := startGhosts(t, g, ln, 4, nil)

	syscall.Kill(gs[1].pid, syscall.SIGSTOP)
	if ws := gs[1].wait(t, syscall.WUNTRACED); !ws.Stopped() || ws.StopSignal() != syscall.SIGSTOP {
		t.Fatalf("after SIGSTOP: wait status %#x, want stopped", uint32(ws))
	}
	for _, i := range []int{0, 2, 3} {
		if s := procState(t, gs[i].pid); s == 'T' {
			t.Errorf("ghost %d stopped with its sibling", i)
		}
	}
	syscall.Kill(gs[1].pid, syscall.SIGCONT)
	if ws := gs[1].wait(t, unix.WCONTINUED); !ws.Continued() {
		t.Fatalf("after SIGCONT: wait status %#x, want continued", uint32(ws))
	}
	wantEvent(t, gs[1].c, syscall.SIGCONT)

	syscall.Kill(gs[2].pid, syscall.SIGKILL)
	if ws := gs[2].wait(t, 0); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("sibling SIGKILLed: wait status %#x", uint32(ws))
	}
	syscall.Kill(gs[0].pid, syscall.SIGKILL) // the template
	if ws := gs[0].wait(t, 0); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("template SIGKILLed: wait status %#x", uint32(ws))
	}
	// Their masters see them go (the master then kills their remote
	// processes); the others relay on.
	for _, i := range []int{0, 2} {
		if _, _, err := ReadEvent(gs[i].c); err == nil {
			t.Errorf("ghost %d: an event after its death, want EOF", i)
		}
	}
	for _, i := range []int{1, 3} {
		syscall.Kill(gs[i].pid, syscall.SIGINT)
		wantEvent(t, gs[i].c, syscall.SIGINT)
	}

	// Two more: the first finds the template gone and is exec'd (a new
	// address space), the second is its sibling.
	more := startGhosts(t, g, ln, 2, nil)
	if kcmpVM(t, more[0].pid, gs[1].pid) {
		t.Errorf("ghost started after the template died shares its address space")
	}
	if !kcmpVM(t, more[0].pid, more[1].pid) {
		t.Errorf("the next ghost does not share the new template's address space")
	}
	wantChildren(t, before, gs[1].pid, gs[3].pid, more[0].pid, more[1].pid)
	for i, gh := range []ghostOf{gs[1], gs[3], more[0], more[1]} {
		WriteExit(gh.c, 10+i)
		if ws := gh.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 10+i {
			t.Errorf("ghost %d: wait status %#x, want exit %d", gh.pid, uint32(ws), 10+i)
		}
	}
	wantChildren(t, before)
}

// TestGroupTemplateExiting stops the template, tells it to exit, and asks
// it for a sibling meanwhile: woken, it must exit with exactly its status
// and not act on the request, which Start then serves with a new
// template. No ghost is left that Start did not return.
func TestGroupTemplateExiting(t *testing.T) {
	before := children(t)
	ln := listen(t)
	g := &Group{Argv: []string{"prog"}, Socket: ln.Addr().String()}
	defer g.Close()
	gs := startGhosts(t, g, ln, 2, nil)

	syscall.Kill(gs[0].pid, syscall.SIGSTOP)
	if ws := gs[0].wait(t, syscall.WUNTRACED); !ws.Stopped() {
		t.Fatalf("after SIGSTOP: wait status %#x, want stopped", uint32(ws))
	}
	WriteExit(gs[0].c, 9)
	type started struct {
		pid int
		err error
	}
	done := make(chan started, 1)
	tok := newToken(t)
	go func() {
		pid, err := g.Start(tok, [3]*os.File{})
		done <- started{pid, err}
	}()
	// Let the request reach the template's queue (if it has not, it
	// fails on the send instead: the same outcome).
	time.Sleep(50 * time.Millisecond)
	select {
	case s := <-done:
		t.Fatalf("Start = %d, %v while the template is stopped, want it to wait", s.pid, s.err)
	default:
	}
	syscall.Kill(gs[0].pid, syscall.SIGCONT)
	if ws := gs[0].wait(t, 0); !ws.Exited() || ws.ExitStatus() != 9 {
		t.Errorf("template: wait status %#x, want exit 9", uint32(ws))
	}
	var s started
	select {
	case s = <-done:
	case <-time.After(testTimeout):
		t.Fatal("Start still waiting after the template exited")
	}
	if s.err != nil {
		t.Fatalf("Start after the template exited = %v", s.err)
	}
	p := &proc{pid: s.pid}
	t.Cleanup(func() {
		if !p.reaped {
			syscall.Kill(p.pid, syscall.SIGKILL)
			syscall.Wait4(p.pid, nil, 0, nil)
		}
	})
	c, h := accept(t, ln)
	if h.Token != tok {
		t.Errorf("hello token %v, want the new ghost's %v", h.Token, tok)
	}
	if kcmpVM(t, s.pid, gs[1].pid) {
		t.Errorf("the ghost started when the template exited shares its address space: it was not exec'd")
	}
	wantChildren(t, before, gs[1].pid, s.pid)
	// No second hello: the request was not acted on.
	ln.SetDeadline(time.Now().Add(100 * time.Millisecond))
	if c2, err := ln.AcceptUnix(); err == nil {
		c2.Close()
		t.Errorf("a second ghost connected for one Start")
	}
	WriteExit(c, 1)
	WriteExit(gs[1].c, 2)
	if ws := p.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 1 {
		t.Errorf("new template: wait status %#x, want exit 1", uint32(ws))
	}
	if ws := gs[1].wait(t, 0); !ws.Exited() || ws.ExitStatus() != 2 {
		t.Errorf("sibling of the exited template: wait status %#x, want exit 2", uint32(ws))
	}
}

// TestGroupJobControl: siblings with Setpgid each lead a process group
// of their own, and SIGTSTP stops only the one it is sent to.
func TestGroupJobControl(t *testing.T) {
	ln := listen(t)
	g := &Group{Argv: []string{"vi"}, Socket: ln.Addr().String(), Setpgid: true}
	defer g.Close()
	gs := startGhosts(t, g, ln, 3, nil)
	for i, gh := range gs {
		if pgid, _ := syscall.Getpgid(gh.pid); pgid != gh.pid {
			t.Errorf("ghost %d: pgid %d, want its own %d", i, pgid, gh.pid)
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU} {
		syscall.Kill(gs[2].pid, sig)
		wantEvent(t, gs[2].c, sig)
		if ws := gs[2].wait(t, syscall.WUNTRACED); !ws.Stopped() || ws.StopSignal() != sig {
			t.Fatalf("after %v: wait status %#x, want stopped by it", sig, uint32(ws))
		}
		for _, i := range []int{0, 1} {
			if s := procState(t, gs[i].pid); s == 'T' {
				t.Errorf("ghost %d stopped by its sibling's %v", i, sig)
			}
		}
		syscall.Kill(gs[2].pid, syscall.SIGCONT)
		if ws := gs[2].wait(t, unix.WCONTINUED); !ws.Continued() {
			t.Fatalf("after SIGCONT: wait status %#x, want continued", uint32(ws))
		}
		wantEvent(t, gs[2].c, syscall.SIGCONT)
	}
	for i, gh := range gs {
		WriteExit(gh.c, i)
		if ws := gh.wait(t, 0); !ws.Exited() || ws.ExitStatus() != i {
			t.Errorf("ghost %d: wait status %#x, want exit %d", i, uint32(ws), i)
		}
	}
}
