package node

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/wire"
)

// adoptWait bounds how long an adopt channel waits for its fork to be
// done with: the master opens it as soon as the ghost runs, which may be
// before the node has let the fork go on.
const adoptWait = 10 * time.Second

// adopt serves the channel of a descendant (wire.ChanAdopt): signals from
// its ghost reach it through its pidfd, and its end goes to the master
// with the status the kernel kept for the pidfd (PIDFD_INFO_EXIT), so the
// parent that reaps it on the node loses nothing. Its relay is a link
// without streams, kept through a lost connection as a launched
// process's is (resume.go): the master takes it back with a ChanResume.
func (s *Slave) adopt(nc ssh.NewChannel) {
	var a wire.Adopt
	if err := wire.Decode(wire.ChanAdopt, nc.ExtraData(), &a); err != nil {
		nc.Reject(wire.RejectOther, err.Error())
		return
	}
	s.adoptRelay(a.PID, nc.Accept)
}

// adoptRelay serves the relay of the descendant whose ghost is pid, on
// the channel accept gives: a ChanAdopt of its own, or its relay on the
// connection's ChanSpace (adopt_space.go).
func (s *Slave) adoptRelay(pid int, accept func() (ssh.Channel, <-chan *ssh.Request, error)) {
	a := wire.Adopt{PID: pid}
	t := s.space.entry(a.PID)
	defer s.space.forget(a.PID, t)
	ch, reqs, err := accept()
	if err != nil {
		return
	}
	select {
	case <-t.ready:
	case <-time.After(adoptWait):
		t.err = fmt.Errorf("fork of PID %d never done", a.PID)
	}
	if t.err != nil || t.pidfd < 0 {
		// No such child: the ghost goes as if killed.
		ch.SendRequest(wire.ReqExit, false, wire.ExitStatus{Signal: syscall.SIGKILL}.Marshal())
		go ssh.DiscardRequests(reqs)
		ch.Close()
		return
	}
	pidfd := os.NewFile(uintptr(t.pidfd), "pidfd")
	defer pidfd.Close()
	rc, err := pidfd.SyscallConn()
	if err != nil {
		go ssh.DiscardRequests(reqs) // a relay on ChanSpace waits for a reader
		ch.Close()
		return
	}
	signal := func(sig syscall.Signal) {
		rc.Control(func(fd uintptr) { unix.PidfdSendSignal(int(fd), sig, nil, 0) })
	}
	// Its user, whom a ghost coming back to a restarted master must be
	// (NodeHello.KeptUIDs): read by the pidfd (an ioctl, where
	// /proc/PID/status cost bpslave a tenth of its CPU per fork).
	var uid uint32
	var uerr error
	rc.Control(func(fd uintptr) { uid, uerr = uidOf(int(fd)) })
	if uerr != nil {
		uid = ^uint32(0) // ended already: nobody's, no ghost takes it back
	}
	l, lost := s.keeper.add(s, a.PID, t.nodePID, uid, &stdio{child: [3]int{-1, -1, -1}}, signal)
	done := make(chan unix.WaitStatus, 1)
	go func() { done <- s.adoptExit(rc, l, a.PID) }()
	l.run(ch, reqs, lost, done)
}

// adoptExit waits for a descendant to end and be reaped, and returns its
// status; SIGKILL if the relay is over first (its ghost is gone) or the
// status cannot be read.
func (s *Slave) adoptExit(rc syscall.RawConn, l *link, pid int) unix.WaitStatus {
	// A pidfd is readable once its process has ended; Go's poller waits.
	rc.Read(func(fd uintptr) bool {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if k, _ := unix.Poll(pfd, 0); k <= 0 {
			return false
		}
		return true
	})
	// Readable means ended; the status is the pidfd's once the parent
	// has reaped it. A zombie keeps its ghost, as it keeps its PID.
	var ws unix.WaitStatus
	var werr error
	gone := 0
	for delay := time.Millisecond; ; delay = min(2*delay, time.Second) {
		rc.Control(func(fd uintptr) { ws, werr = exitOf(int(fd)) })
		// ESRCH: reaped, its status not stored yet (the kernel
		// unhashes the task a moment before pidfs keeps its exit).
		if errors.Is(werr, unix.ESRCH) && gone < 10 {
			gone++
		} else if werr != errNotReaped {
			break
		}
		if l.isOver() {
			return unix.WaitStatus(syscall.SIGKILL)
		}
		time.Sleep(delay)
	}
	if werr != nil {
		s.log.Warn("process space: exit status", "pid", pid, "err", werr)
		ws = unix.WaitStatus(syscall.SIGKILL)
	}
	return ws
}

var errNotReaped = errors.New("not reaped yet")

// pidfdInfo asks the kernel for what mask names of pidfd's process
// (PIDFD_GET_INFO); the answer's Mask says what it had.
func pidfdInfo(pidfd int, mask uint64) (unix.PidfdInfo, error) {
	info := unix.PidfdInfo{Mask: mask}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(pidfd), unix.PIDFD_GET_INFO, uintptr(unsafe.Pointer(&info)))
	if e != 0 {
		return info, fmt.Errorf("PIDFD_GET_INFO: %w", e)
	}
	return info, nil
}

// uidOf is the real user ID of pidfd's process (Linux 6.13); an error
// once it is reaped.
func uidOf(pidfd int) (uint32, error) {
	info, err := pidfdInfo(pidfd, unix.PIDFD_INFO_CREDS)
	if err != nil {
		return 0, err
	}
	if info.Mask&unix.PIDFD_INFO_CREDS == 0 {
		return 0, errors.New("PIDFD_GET_INFO: no credentials")
	}
	return info.Ruid, nil
}

// exitOf reads an ended process's wait status from its pidfd (Linux 6.15:
// kept for the pidfd even after its parent reaped it).
func exitOf(pidfd int) (unix.WaitStatus, error) {
	info, err := pidfdInfo(pidfd, unix.PIDFD_INFO_EXIT)
	if err != nil {
		return 0, err
	}
	if info.Mask&unix.PIDFD_INFO_EXIT == 0 {
		return 0, errNotReaped
	}
	return unix.WaitStatus(info.Exit_code), nil
}
