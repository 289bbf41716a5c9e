package ghost

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const testTimeout = 10 * time.Second

// listen returns a master socket in a fresh directory.
func listen(t testing.TB) *net.UnixListener {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "m.sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// proc is a started ghost; the test reaps it, or cleanup kills and reaps it.
type proc struct {
	pid    int
	reaped bool
}

// attr is one ghost for start.
type attr struct {
	Argv    []string
	Socket  string
	Token   Token
	Files   [3]*os.File
	Setpgid bool
}

// start starts a ghost as the first of a Group of its own (so an exec'd
// template) and returns it once it is started; the caller accepts its
// connection. Cleanup kills and reaps it if the test did not.
func start(t testing.TB, a attr) *proc {
	t.Helper()
	g := &Group{Argv: a.Argv, Socket: a.Socket, Setpgid: a.Setpgid}
	t.Cleanup(func() { g.Close() })
	return startIn(t, g, a.Token, a.Files)
}

// startIn starts a ghost of g; cleanup kills and reaps it if the test did
// not.
func startIn(t testing.TB, g *Group, tok Token, files [3]*os.File) *proc {
	t.Helper()
	pid, err := g.Start(tok, files)
	if err != nil {
		t.Fatalf("Start(%q) = %v", g.Argv, err)
	}
	p := &proc{pid: pid}
	t.Cleanup(func() {
		if !p.reaped {
			syscall.Kill(p.pid, syscall.SIGKILL)
			var ws syscall.WaitStatus
			syscall.Wait4(p.pid, &ws, 0, nil)
		}
	})
	return p
}

// accept accepts the next ghost and reads its hello.
func accept(t testing.TB, ln *net.UnixListener) (*net.UnixConn, Hello) {
	t.Helper()
	ln.SetDeadline(time.Now().Add(testTimeout))
	c, err := ln.AcceptUnix()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	h, err := ReadHello(c)
	if err != nil {
		t.Fatalf("ReadHello = %v", err)
	}
	t.Cleanup(h.Close)
	return c, h
}

// wait waits (with a timeout) for a state change of p in opts and
// returns it; an exit or death marks p reaped.
func (p *proc) wait(t testing.TB, opts int) syscall.WaitStatus {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(p.pid, &ws, opts|syscall.WNOHANG, nil)
		if err != nil {
			t.Fatalf("wait4(%d) = %v", p.pid, err)
		}
		if got == p.pid {
			p.reaped = ws.Exited() || ws.Signaled()
			return ws
		}
		if time.Now().After(deadline) {
			t.Fatalf("wait4(%d): no state change in %v", p.pid, testTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func wantEvent(t *testing.T, c *net.UnixConn, sig syscall.Signal) {
	t.Helper()
	typ, arg, err := ReadEvent(c)
	if err != nil || typ != EventSignal || arg != uint32(sig) {
		t.Fatalf("ReadEvent = %d, %d, %v, want %d, %d (%v)", typ, arg, err, EventSignal, sig, sig)
	}
}

func fstatID(t *testing.T, f *os.File) [2]uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return [2]uint64{st.Dev, st.Ino}
}

func newToken(t testing.TB) Token {
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestStart(t *testing.T) {
	ln := listen(t)
	stdin, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	defer w.Close()
	stdout, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	_, stderr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()

	// A stray fd without close-on-exec must not reach the ghost.
	stray, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(stray)

	argv := []string{"sleep", "300"}
	tok := newToken(t)
	files := [3]*os.File{stdin, stdout, stderr}
	p := start(t, attr{Argv: argv, Socket: ln.Addr().String(), Token: tok, Files: files})
	c, h := accept(t, ln)

	if h.Token != tok {
		t.Errorf("hello token = %v, want %v", h.Token, tok)
	}
	for i := range files {
		if h.Files[i] == nil {
			t.Fatalf("hello Files[%d] = nil, want fd %d", i, i)
		}
		if got, want := fstatID(t, h.Files[i]), fstatID(t, files[i]); got != want {
			t.Errorf("hello Files[%d] dev/ino = %v, want %v", i, got, want)
		}
	}

	proc := fmt.Sprintf("/proc/%d/", p.pid)
	if b, err := os.ReadFile(proc + "cmdline"); err != nil || string(b) != "sleep\x00300\x00" {
		t.Errorf("%scmdline = %q, %v, want %q", proc, b, err, "sleep\x00300\x00")
	}
	if b, err := os.ReadFile(proc + "comm"); err != nil || string(b) != "sleep\n" {
		t.Errorf("%scomm = %q, %v, want %q", proc, b, err, "sleep\n")
	}
	wantEnv := "BPROC_GHOST_SOCK=" + ln.Addr().String() + "\x00BPROC_GHOST_TOKEN=" + tok.String() + "\x00BPROC_GHOST_GROUP=1\x00"
	if b, err := os.ReadFile(proc + "environ"); err != nil || string(b) != wantEnv {
		t.Errorf("%senviron = %q, %v, want %q", proc, b, err, wantEnv)
	}
	if pgid, _ := syscall.Getpgid(p.pid); pgid != syscall.Getpgrp() {
		t.Errorf("ghost pgid = %d, want the caller's %d", pgid, syscall.Getpgrp())
	}

	// The hello is sent before the signalfd exists: a signal sent now is
	// pending (blocked) and must still be relayed.
	if err := syscall.Kill(p.pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, c, syscall.SIGUSR1)

	// By now the ghost is in its loop: 0-2, the socket, the control
	// socket (it is its group's template), the signalfd.
	ents, err := os.ReadDir(proc + "fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range ents {
		l, _ := os.Readlink(proc + "fd/" + e.Name())
		fds = append(fds, e.Name()+" -> "+l)
	}
	if len(fds) != 6 || !strings.Contains(fds[3], "socket:") || !strings.HasPrefix(fds[4], "4 -> socket:") || !strings.Contains(fds[5], "signalfd") {
		t.Errorf("ghost fds = %q, want 0, 1, 2, a socket, the control socket (4) and a signalfd", fds)
	}

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGWINCH, syscall.Signal(40) /* real-time */} {
		syscall.Kill(p.pid, sig)
		wantEvent(t, c, sig)
	}

	if err := WriteExit(c, 7); err != nil {
		t.Fatal(err)
	}
	if ws := p.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 7 {
		t.Errorf("after WriteExit(7): wait status %#x, want exit 7", uint32(ws))
	}
}

// TestDeath checks that a ghost ends with exactly the status it is told.
func TestDeath(t *testing.T) {
	// Let a core file be written if the ghost were dumpable, and where
	// the test can look for it.
	allowCores(t)
	dir := t.TempDir()
	t.Chdir(dir)

	ln := listen(t)
	for _, tc := range []struct {
		name   string
		do     func(c *net.UnixConn) error
		exit   int            // want exit status, or
		signal syscall.Signal // want death by signal
	}{
		{"exit 0", func(c *net.UnixConn) error { return WriteExit(c, 0) }, 0, 0},
		{"exit 255", func(c *net.UnixConn) error { return WriteExit(c, 255) }, 255, 0},
		{"SIGSEGV", func(c *net.UnixConn) error { return WriteSignal(c, syscall.SIGSEGV) }, 0, syscall.SIGSEGV},
		{"SIGTERM", func(c *net.UnixConn) error { return WriteSignal(c, syscall.SIGTERM) }, 0, syscall.SIGTERM},
		{"SIGKILL", func(c *net.UnixConn) error { return WriteSignal(c, syscall.SIGKILL) }, 0, syscall.SIGKILL},
		{"SIGCHLD ignored by default", func(c *net.UnixConn) error { return WriteSignal(c, syscall.SIGCHLD) }, 128 + 17, 0},
		{"unknown command ignored", func(c *net.UnixConn) error {
			if err := writeCmd(c, 99, 1); err != nil {
				return err
			}
			return WriteExit(c, 3)
		}, 3, 0},
		{"master gone", func(c *net.UnixConn) error { return c.Close() }, 0, syscall.SIGKILL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, attr{Argv: []string{"/bin/true"}, Socket: ln.Addr().String(), Token: newToken(t)})
			c, _ := accept(t, ln)
			if err := tc.do(c); err != nil {
				t.Fatal(err)
			}
			ws := p.wait(t, 0)
			switch {
			case tc.signal != 0 && (!ws.Signaled() || ws.Signal() != tc.signal):
				t.Errorf("wait status %#x, want killed by %v", uint32(ws), tc.signal)
			case tc.signal == 0 && (!ws.Exited() || ws.ExitStatus() != tc.exit):
				t.Errorf("wait status %#x, want exit %d", uint32(ws), tc.exit)
			case ws.CoreDump():
				t.Errorf("wait status %#x: the ghost dumped core", uint32(ws))
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files left in the ghosts' cwd: %q, want none (no core files)", names)
	}
}

func TestStopContinue(t *testing.T) {
	ln := listen(t)
	p := start(t, attr{Argv: []string{"sleep", "300"}, Socket: ln.Addr().String(), Token: newToken(t)})
	c, _ := accept(t, ln)

	syscall.Kill(p.pid, syscall.SIGSTOP)
	if ws := p.wait(t, syscall.WUNTRACED); !ws.Stopped() || ws.StopSignal() != syscall.SIGSTOP {
		t.Fatalf("after SIGSTOP: wait status %#x, want stopped by SIGSTOP", uint32(ws))
	}
	syscall.Kill(p.pid, syscall.SIGCONT)
	if ws := p.wait(t, unix.WCONTINUED); !ws.Continued() {
		t.Fatalf("after SIGCONT: wait status %#x, want continued", uint32(ws))
	}
	wantEvent(t, c, syscall.SIGCONT)

	WriteExit(c, 0)
	if ws := p.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("wait status %#x, want exit 0", uint32(ws))
	}
}

// TestJobControl checks that SIGTSTP, SIGTTIN and SIGTTOU are relayed
// and then stop the ghost the way they stop an ordinary process.
func TestJobControl(t *testing.T) {
	ln := listen(t)
	// Its own process group, whose parent (this test) is outside it in
	// the same session: not orphaned, so the kernel lets the stops happen.
	p := start(t, attr{Argv: []string{"vi"}, Socket: ln.Addr().String(), Token: newToken(t), Setpgid: true})
	c, _ := accept(t, ln)
	if pgid, _ := syscall.Getpgid(p.pid); pgid != p.pid {
		t.Errorf("Setpgid: ghost pgid = %d, want %d", pgid, p.pid)
	}

	for _, sig := range []syscall.Signal{syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGTSTP} {
		syscall.Kill(p.pid, sig)
		wantEvent(t, c, sig)
		if ws := p.wait(t, syscall.WUNTRACED); !ws.Stopped() || ws.StopSignal() != sig {
			t.Fatalf("after %v: wait status %#x, want stopped by %v", sig, uint32(ws), sig)
		}
		syscall.Kill(p.pid, syscall.SIGCONT)
		if ws := p.wait(t, unix.WCONTINUED); !ws.Continued() {
			t.Fatalf("after SIGCONT: wait status %#x, want continued", uint32(ws))
		}
		wantEvent(t, c, syscall.SIGCONT)
	}

	// Still relaying, and SIGTSTP is blocked again (or this would stop it
	// without an event, and the exit below would time out).
	syscall.Kill(p.pid, syscall.SIGUSR2)
	wantEvent(t, c, syscall.SIGUSR2)
	WriteExit(c, 3)
	if ws := p.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("wait status %#x, want exit 3", uint32(ws))
	}
}

// TestStubErrors checks the ghost's own complaints, on its fd 2.
func TestStubErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no.sock")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := start(t, attr{Argv: []string{"x"}, Socket: missing, Files: [3]*os.File{nil, nil, w}})
	w.Close()
	if ws := p.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 255 {
		t.Errorf("wait status %#x, want exit 255", uint32(ws))
	}
	out, _ := io.ReadAll(r)
	want := "bproc ghost: connect " + missing + ": errno 2\n"
	if string(out) != want {
		t.Errorf("ghost stderr = %q, want %q", out, want)
	}

	for _, a := range []attr{
		{Socket: missing},
		{Argv: []string{"x"}},
		{Argv: []string{"x"}, Socket: "/" + strings.Repeat("a", 200)},
		{Argv: []string{"x\x00y"}, Socket: missing},
	} {
		g := &Group{Argv: a.Argv, Socket: a.Socket}
		if pid, err := g.Start(a.Token, a.Files); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
			syscall.Wait4(pid, nil, 0, nil)
			t.Errorf("Start(%+v) = %d, nil, want error", a, pid)
		}
	}
}

// TestNoFiles checks a ghost with fds 0-2 closed: it sends no fds.
func TestNoFiles(t *testing.T) {
	ln := listen(t)
	p := start(t, attr{Argv: []string{"a/b/c"}, Socket: ln.Addr().String(), Token: newToken(t)})
	c, h := accept(t, ln)
	if h.Files != [3]*os.File{} {
		t.Errorf("hello Files = %v, want none", h.Files)
	}
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.pid)); string(b) != "c\n" {
		t.Errorf("comm = %q, want %q", b, "c\n")
	}
	// Wait until the ghost is in its loop, then look at its fds: 0-2
	// must stay closed, not be taken by the socket or the signalfd.
	syscall.Kill(p.pid, syscall.SIGUSR1)
	wantEvent(t, c, syscall.SIGUSR1)
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if err != nil || !slices.Equal(names, []string{"3", "4", "5"}) {
		t.Errorf("ghost fds = %q, %v, want [3 4 5]", names, err)
	}
	WriteExit(c, 1)
	if ws := p.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 1 {
		t.Errorf("wait status %#x, want exit 1", uint32(ws))
	}
}

// TestStubSize keeps the stub honest about being tiny: 12 kB, three pages
// of code that every ghost of a process shares (one memfd), so the third
// costs 4 kB once, where what it holds (settle) saves an exec'd ghost
// 15 kB. And settle's reading of its own layout: one loaded segment,
// the first program header, from the ELF header on.
func TestStubSize(t *testing.T) {
	if len(stub) > 12<<10 || !bytes.HasPrefix(stub, []byte("\x7fELF")) {
		t.Errorf("embedded stub: %d bytes, ELF %v; want an ELF file of at most 12 kB", len(stub), bytes.HasPrefix(stub, []byte("\x7fELF")))
	}
	f, err := elf.NewFile(bytes.NewReader(stub))
	if err != nil {
		t.Fatal(err)
	}
	var loads int
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			loads++
		}
	}
	if p := f.Progs[0]; loads != 1 || p.Type != elf.PT_LOAD || p.Off != 0 || p.Filesz != p.Memsz {
		t.Errorf("stub: %d loaded segments, the first program header %+v; want one, first, from offset 0, no bss", loads, p.ProgHeader)
	}
}
