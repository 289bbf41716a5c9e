package ghost

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestGroupPrestart: a prestarted template does not reach the master
// until its Start gives it a token; then it says hello with that token as
// the PID Start returns, and makes the group's next ghosts as any
// template does.
func TestGroupPrestart(t *testing.T) {
	ln := listen(t)
	g := &Group{Argv: []string{"pre"}, Socket: ln.Addr().String()}
	defer g.Close()
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	files := [3]*os.File{nil, out, out}
	if err := g.Prestart(files); err != nil {
		t.Fatal(err)
	}
	pre := g.pre.pid
	t.Cleanup(func() { syscall.Kill(pre, syscall.SIGKILL); syscall.Wait4(pre, nil, 0, nil) })
	noHello(t, ln, 100*time.Millisecond)

	tok := newToken(t)
	p := startIn(t, g, tok, files)
	if p.pid != pre {
		t.Errorf("Start = %d, want the prestarted template %d", p.pid, pre)
	}
	c, h := accept(t, ln)
	if h.Token != tok {
		t.Errorf("hello token %v, want %v", h.Token, tok)
	}
	if cred := peerPID(t, c); cred != p.pid {
		t.Errorf("hello from PID %d, want %d", cred, p.pid)
	}
	if h.Files[0] != nil || h.Files[1] == nil || fstatID(t, h.Files[1]) != fstatID(t, out) {
		t.Errorf("hello files %v, want fd 1 and 2 the prestart's", h.Files)
	}

	// The next ghost is its sibling: one address space.
	tok2 := newToken(t)
	p2 := startIn(t, g, tok2, files)
	_, h2 := accept(t, ln)
	if h2.Token != tok2 || !kcmpVM(t, p.pid, p2.pid) {
		t.Errorf("second ghost: token %v (want %v), shares the template's memory %v", h2.Token, tok2, kcmpVM(t, p.pid, p2.pid))
	}
}

// TestGroupPrestartUnused: a prestarted template that gets no token, its
// group closed or its first Start with other files, exits unseen and is
// reaped by the group.
func TestGroupPrestartUnused(t *testing.T) {
	for _, how := range []string{"close", "other files"} {
		t.Run(how, func(t *testing.T) {
			ln := listen(t)
			g := &Group{Argv: []string{"pre"}, Socket: ln.Addr().String()}
			defer g.Close()
			if err := g.Prestart([3]*os.File{}); err != nil {
				t.Fatal(err)
			}
			pre := g.pre.pid
			switch how {
			case "close":
				g.Close()
			default:
				null, err := os.Open(os.DevNull)
				if err != nil {
					t.Fatal(err)
				}
				defer null.Close()
				tok := newToken(t)
				p := startIn(t, g, tok, [3]*os.File{null})
				if p.pid == pre {
					t.Fatalf("Start with other files took the prestarted template %d", pre)
				}
				if _, h := accept(t, ln); h.Token != tok {
					t.Errorf("hello token %v, want %v", h.Token, tok)
				}
			}
			if _, err := syscall.Wait4(pre, nil, syscall.WNOHANG, nil); err != syscall.ECHILD {
				t.Errorf("wait4(prestarted %d) = %v, want ECHILD: the group reaps it", pre, err)
			}
			noHello(t, ln, 50*time.Millisecond)
		})
	}
}

// noHello fails if a ghost connects to ln within d.
func noHello(t *testing.T, ln *net.UnixListener, d time.Duration) {
	t.Helper()
	ln.SetDeadline(time.Now().Add(d))
	if c, err := ln.AcceptUnix(); err == nil {
		c.Close()
		t.Fatal("a ghost connected that had no token yet, or was not wanted")
	}
}

func peerPID(t *testing.T, c *net.UnixConn) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var cred *syscall.Ucred
	raw.Control(func(fd uintptr) {
		cred, err = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if err != nil {
		t.Fatal(err)
	}
	return int(cred.Pid)
}
