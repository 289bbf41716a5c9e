package ghost

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// acceptResume listens on path again, as a new master, and takes the
// ghost's resume hello: the connection, the hello, and how many
// descriptors came with it (closed here). Both close when the test ends.
func acceptResume(t *testing.T, path string) (*net.UnixConn, Resume, int) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ln.SetDeadline(time.Now().Add(testTimeout))
	c, err := ln.AcceptUnix()
	if err != nil {
		t.Fatalf("no ghost came back: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	res, fds := readResume(t, c)
	for _, fd := range fds {
		unix.Close(fd)
	}
	return c, res, len(fds)
}

// readResume reads a resume hello and its fds from c.
func readResume(t *testing.T, c *net.UnixConn) (Resume, []int) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	b := make([]byte, ResumeHelloSize)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := c.ReadMsgUnix(b, oob)
	if err != nil {
		t.Fatalf("read resume hello: %v", err)
	}
	var fds []int
	if oobn > 0 {
		if fds, err = parseRights(oob[:oobn]); err != nil {
			t.Fatal(err)
		}
	}
	for n < len(b) {
		k, err := c.Read(b[n:])
		if err != nil {
			t.Fatalf("read resume hello: %v after %d bytes", err, n)
		}
		n += k
	}
	r, err := ParseResume(b, len(fds))
	if err != nil {
		t.Fatal(err)
	}
	return r, fds
}

// TestReconnect: a ghost told where its process runs and a grace time
// outlives its master: it dials the same path again, says a resume hello
// with what it was told (node, node PID, bytes written) and its fds 0-2,
// relays a signal it got while no master was there, and then does what
// the new master says. A ghost never told a grace time dies with its
// master (TestDeath's "master gone").
func TestReconnect(t *testing.T) {
	ln := listen(t)
	path := ln.Addr().String()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	p := start(t, attr{Argv: []string{"sleep", "300"}, Socket: path, Token: newToken(t), Files: [3]*os.File{nil, w, nil}})
	c, _ := accept(t, ln)
	WriteWhere(c, 3, 4711, 5*time.Second)
	for _, n := range [][CmdSize + 8]byte{MarshalOut(1, 12345), MarshalOut(2, 7), MarshalOut(1, 1<<33)} {
		c.Write(n[:])
	}
	c.Close()
	ln.Close() // the master is gone: nothing listens
	time.Sleep(300 * time.Millisecond)
	syscall.Kill(p.pid, syscall.SIGUSR1) // held by the ghost meanwhile
	time.Sleep(300 * time.Millisecond)

	c2, res, nfds := acceptResume(t, path)
	want := Resume{Version: ResumeVersion, FDMask: 2, Node: 3, NodePID: 4711, Out: [2]int64{1 << 33, 7}}
	if res != want || nfds != 1 {
		t.Errorf("resume hello %+v with %d fds, want %+v with 1", res, nfds, want)
	}
	c2.SetReadDeadline(time.Now().Add(testTimeout))
	typ, arg, err := ReadEvent(c2)
	if err != nil || typ != EventSignal || syscall.Signal(arg) != syscall.SIGUSR1 {
		t.Errorf("after the resume hello: event %d %d, %v; want SIGUSR1 relayed", typ, arg, err)
	}
	WriteExit(c2, 5)
	if ws := p.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 5 {
		t.Errorf("after WriteExit(5) from the new master: wait status %#x, want exit 5", uint32(ws))
	}
}

// TestReconnectSignalPending: a ghost whose relay of a signal fails
// because its master is gone still reads what that master wrote before
// it went: here the CMD_WHERE that gives it a grace time, which it then
// waits for the next master. It read nothing more once a write failed,
// and died at once, as one never told a grace time does.
func TestReconnectSignalPending(t *testing.T) {
	ln := listen(t)
	path := ln.Addr().String()
	p := start(t, attr{Argv: []string{"sleep", "300"}, Socket: path, Token: newToken(t)})
	c, _ := accept(t, ln)
	// Stopped, the ghost finds the signal and the master's last words
	// in one wake-up, the signal first.
	syscall.Kill(p.pid, syscall.SIGSTOP)
	waitState(t, p.pid, 'T')
	syscall.Kill(p.pid, syscall.SIGUSR1)
	WriteWhere(c, 3, 4711, 5*time.Second)
	c.Close()
	ln.Close()
	syscall.Kill(p.pid, syscall.SIGCONT)

	c2, res, _ := acceptResume(t, path)
	if res.Node != 3 || res.NodePID != 4711 {
		t.Errorf("resume hello %+v, want node 3 PID 4711", res)
	}
	c2.SetReadDeadline(time.Now().Add(testTimeout))
	got := map[syscall.Signal]bool{}
	for !got[syscall.SIGUSR1] {
		typ, arg, err := ReadEvent(c2)
		if err != nil || typ != EventSignal {
			t.Fatalf("after the resume hello: event %d %d, %v; want SIGUSR1 relayed", typ, arg, err)
		}
		got[syscall.Signal(arg)] = true
	}
	WriteExit(c2, 5)
	if ws := p.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 5 {
		t.Errorf("after WriteExit(5) from the new master: wait status %#x, want exit 5", uint32(ws))
	}
}

// waitState waits for pid to be in state (a letter of /proc/PID/stat).
func waitState(t *testing.T, pid int, state byte) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		st, err := procfs.ReadStat(pid)
		if err == nil && st.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("PID %d: state %c (%v), want %c", pid, st.State, err, state)
		}
		time.Sleep(time.Millisecond)
	}
}
