package master

import (
	"encoding/binary"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/loglimit"
	"github.com/bproc/bproc/internal/shared/procfs"
)

// pairTest is a master with one proc standing for a forking ghost: the
// test process itself, whose socket pairs name it as their peer.
func pairTest(t *testing.T) (*Master, *proc) {
	t.Helper()
	m := &Master{procs: map[int]*proc{}, pending: map[ghost.Token]*rank{}, routines: newRoutines(),
		warns: loglimit.New(loglimit.DefaultEvery, loglimit.DefaultBurst), log: slog.New(slog.DiscardHandler)}
	j := &job{cred: localapi.Cred{UID: uint32(os.Getuid())}}
	return m, &proc{m: m, pid: os.Getpid(), job: j}
}

// asking makes a fork wait for p's EventForked, as fork does.
func asking(m *Master, p *proc) *rank {
	r := &rank{job: p.job, desc: &descendant{born: make(chan int, 1), paired: make(chan *proc, 1), slot: &descSlot{c: &conns{desc: map[uint32]int{}, waiting: map[uint32]int{}}}}}
	r.token[0] = byte(len(m.pending) + 1)
	m.pending[r.token] = r
	p.forking = r
	return r
}

// pair is a socket pair of type typ: the fd to hand over, and the other
// end, which reads EOF once every copy of the first is closed.
func pair(t *testing.T, typ int) (int, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer := os.NewFile(uintptr(fds[1]), "peer")
	t.Cleanup(func() { peer.Close() })
	return fds[0], peer
}

// peerClosed says the other end of peer is closed everywhere.
func peerClosed(t *testing.T, peer *os.File) bool {
	t.Helper()
	fd := int(peer.Fd())
	if _, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err == unix.ENOTSOCK {
		_, err := unix.Write(fd, []byte{0}) // a pipe's write end
		return err == unix.EPIPE
	}
	if typ, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); typ == unix.SOCK_DGRAM {
		// No EOF on a datagram socket: a send to a closed peer is refused.
		return unix.Send(fd, []byte{0}, unix.MSG_DONTWAIT) == unix.ECONNREFUSED
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, _ := unix.Poll(pfd, 5000); n != 1 {
		return false
	}
	var b [1]byte
	n, err := unix.Read(fd, b[:])
	return n == 0 && err == nil
}

// foreignPair is a socket pair another process made (a child of the
// test's, which sends one end here and keeps the other): its SO_PEERCRED
// names that process.
func foreignPair(t *testing.T) (int, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "mine"), os.NewFile(uintptr(fds[1]), "theirs")
	defer mine.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPairHelper$")
	cmd.Env = append(os.Environ(), "BPROC_PAIR_HELPER=1")
	cmd.ExtraFiles = []*os.File{theirs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var b [1]byte
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(mine.Fd()), b[:], oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	got, err := unixRights(oob[:oobn])
	if err != nil || len(got) != 1 {
		t.Fatalf("the helper's fd: %v, %v", got, err)
	}
	return got[0], nil // its other end is the helper's, which holds it
}

// TestPairHelper is foreignPair's other process.
func TestPairHelper(t *testing.T) {
	if os.Getenv("BPROC_PAIR_HELPER") != "1" {
		t.Skip("foreignPair's helper")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		os.Exit(1)
	}
	unix.Sendmsg(3, []byte{0}, unix.UnixRights(fds[0]), nil, 0)
	unix.Close(fds[0])
	time.Sleep(time.Minute) // holds fds[1] until killed
}

// tcpPair is a connected TCP stream on loopback: a stream socket the
// test process made, not a unix one (its SO_PEERCRED names no process).
func tcpPair(t *testing.T) (int, *os.File) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := a.(*net.TCPConn).File()
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	f, err := c.(*net.TCPConn).File()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	return fd, peer
}

// child is a PID that is a child of the test process, not a ghost.
func child(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

// TestGhostForkedRefuses: what a ghost answers to a CmdFork is taken only
// from the ghost that was asked, once, and only as its own child's
// connection; anything else is closed and the fork fails at once (born
// 0), holding nothing.
func TestGhostForkedRefuses(t *testing.T) {
	kid := child(t)
	cases := []struct {
		name string
		fd   func(t *testing.T) (int, *os.File) // nil: no fd came
		pid  int
		as   int // the forking ghost's PID, if not the test process's
	}{
		{"no child made", nil, 0, 0},
		{"no fd with the PID", nil, kid, 0},
		{"a pipe", func(t *testing.T) (int, *os.File) {
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			w := os.NewFile(uintptr(p[1]), "w")
			t.Cleanup(func() { w.Close() })
			return p[0], w
		}, kid, 0},
		{"a datagram socket", func(t *testing.T) (int, *os.File) { return pair(t, unix.SOCK_DGRAM) }, kid, 0},
		{"a socket another process made", foreignPair, kid, 0},
		{"a TCP socket", tcpPair, kid, 0},
		{"a socket of another ghost", func(t *testing.T) (int, *os.File) { return pair(t, unix.SOCK_STREAM) }, kid, 1},
		{"a PID not the ghost's child", func(t *testing.T) (int, *os.File) { return pair(t, unix.SOCK_STREAM) }, 1, 0},
		{"a PID that is gone", func(t *testing.T) (int, *os.File) { return pair(t, unix.SOCK_STREAM) }, 1 << 22, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, p := pairTest(t)
			if tc.as != 0 {
				p.pid = tc.as
			}
			r := asking(m, p)
			fd, peer := -1, (*os.File)(nil)
			if tc.fd != nil {
				fd, peer = tc.fd(t)
			}
			p.ghostForked(tc.pid, fd, false)
			select {
			case pid := <-r.desc.born:
				if pid != 0 {
					t.Errorf("born %d, want 0: refused", pid)
				}
			default:
				t.Error("the fork was not told: it would wait forkWait")
			}
			if p.forking != nil {
				t.Error("the fork still waits for an answer")
			}
			if m.pending[r.token] != r {
				t.Error("the fork's rank was taken")
			}
			if peer != nil && !peerClosed(t, peer) {
				t.Error("the fd handed over is still open")
			}
		})
	}
}

// TestGhostForkedOnce: one answer per CmdFork. An EventForked no fork
// asked for, and a second one, are closed; so is a valid connection for
// a fork that is over.
func TestGhostForkedOnce(t *testing.T) {
	kid := child(t)
	m, p := pairTest(t)
	fd, peer := pair(t, unix.SOCK_STREAM)
	p.ghostForked(kid, fd, false) // nothing asked
	if !peerClosed(t, peer) {
		t.Error("an unasked-for fd is still open")
	}
	r := asking(m, p)
	delete(m.pending, r.token) // the fork gave up
	fd, peer = pair(t, unix.SOCK_STREAM)
	p.ghostForked(kid, fd, false)
	if !peerClosed(t, peer) {
		t.Error("the fd of a fork that is over is still open")
	}
	if pid := <-r.desc.born; pid != 0 {
		t.Errorf("born %d for a fork that is over", pid)
	}
	fd, peer = pair(t, unix.SOCK_STREAM)
	p.ghostForked(kid, fd, false) // a second answer
	if !peerClosed(t, peer) {
		t.Error("a second answer's fd is still open")
	}
}

// TestReadGhostStrayFDs: an fd a ghost sends with any event but
// EventForked is closed, as are those beyond the one an event may bring
// (the kernel drops them), and the ghost's events go on being read.
func TestReadGhostStrayFDs(t *testing.T) {
	m, p := pairTest(t)
	var err error
	if m.ghosts, err = newGhostWatch(); err != nil {
		t.Fatal(err)
	}
	defer m.ghosts.close()
	conn, g := pair(t, unix.SOCK_STREAM)
	defer unix.Close(conn)
	unix.SetNonblock(conn, true)
	p.gfd = conn
	send := func(typ, arg uint32, n int) []*os.File {
		var ev [ghost.EventSize]byte
		binary.LittleEndian.PutUint32(ev[0:4], typ)
		binary.LittleEndian.PutUint32(ev[4:8], arg)
		var fds []int
		var peers []*os.File
		for range n {
			fd, peer := pair(t, unix.SOCK_STREAM)
			fds = append(fds, fd)
			peers = append(peers, peer)
		}
		var oob []byte
		if n > 0 {
			oob = unix.UnixRights(fds...)
		}
		if err := unix.Sendmsg(int(g.Fd()), ev[:], oob, nil, 0); err != nil {
			t.Fatal(err)
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
		return peers
	}
	peers := send(99, 0, 1)                                             // an unknown event
	peers = append(peers, send(ghost.EventForked, uint32(p.pid), 3)...) // three fds, and no fork asked
	if gone := p.readGhost(); gone {
		t.Fatal("readGhost: the ghost hung up, want it read dry")
	}
	for i, peer := range peers {
		if !peerClosed(t, peer) {
			t.Errorf("fd %d sent is still open", i)
		}
	}
	if p.evLen != 0 {
		t.Errorf("%d bytes of an event left over", p.evLen)
	}
}

// TestGhostParent: the parent check by pidfd says what /proc says, and 0
// for a PID that is gone or a thread's ID.
func TestGhostParent(t *testing.T) {
	kid := child(t)
	for _, pid := range []int{kid, os.Getpid(), 1} {
		st, _ := procfs.ReadStat(pid)
		if got := ghostParent(pid); got != st.PPid {
			t.Errorf("ghostParent(%d) = %d, /proc says %d", pid, got, st.PPid)
		}
	}
	if got := ghostParent(kid); got != os.Getpid() {
		t.Errorf("ghostParent(child %d) = %d, want %d", kid, got, os.Getpid())
	}
	if got := ghostParent(1 << 22); got != 0 {
		t.Errorf("ghostParent(a PID that is gone) = %d, want 0", got)
	}
	tid := make(chan int)
	release := make(chan struct{})
	go func() {
		runtime.LockOSThread() // ended with the goroutine: the thread goes
		tid <- unix.Gettid()
		<-release
	}()
	defer close(release)
	if id := <-tid; id != os.Getpid() {
		if got := ghostParent(id); got != 0 {
			t.Errorf("ghostParent(thread %d) = %d, want 0", id, got)
		}
	}
}
