package node

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/pidfd"
	"github.com/bproc/bproc/internal/shared/procfs"
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
	pf := os.NewFile(uintptr(t.pidfd), "pidfd")
	defer pf.Close()
	rc, err := pf.SyscallConn()
	if err != nil {
		go ssh.DiscardRequests(reqs) // a relay on ChanSpace waits for a reader
		ch.Close()
		return
	}
	signal := func(sig syscall.Signal) {
		rc.Control(func(fd uintptr) {
			s.space.noteSignal(fd, t, sig) // adopt_exit.go
			unix.PidfdSendSignal(int(fd), sig, nil, 0)
		})
	}
	// Its user, whom a ghost coming back to a restarted master must be
	// (NodeHello.KeptUIDs): read by the pidfd (an ioctl, where
	// /proc/PID/status cost bpslave a tenth of its CPU per fork).
	var uid uint32
	var uerr error
	rc.Control(func(fd uintptr) { uid, uerr = uidOf(int(fd), t.nodePID) })
	if uerr != nil {
		uid = ^uint32(0) // ended already: nobody's, no ghost takes it back
	}
	l, lost := s.keeper.add(s, a.PID, t.nodePID, uid, &stdio{child: [3]int{-1, -1, -1}}, signal)
	done := make(chan unix.WaitStatus, 1)
	go func() { done <- s.adoptExit(rc, l, a.PID, t) }()
	l.run(ch, reqs, lost, done)
}

// uidOf is the real user ID of fd's process, whose PID here is pid:
// by the pidfd (Linux 6.13), else from /proc (uidByProc); an error once
// it is reaped.
func uidOf(fd, pid int) (uint32, error) {
	info, err := pidfd.Info(fd, unix.PIDFD_INFO_CREDS)
	if pidfd.NoInfo(err) {
		return uidByProc(fd, pid)
	}
	if err != nil {
		return 0, err
	}
	if info.Mask&unix.PIDFD_INFO_CREDS == 0 {
		return 0, errors.New("PIDFD_GET_INFO: no credentials")
	}
	return info.Ruid, nil
}

// uidByProc reads the real user ID of fd's process from
// /proc/PID/status, where the kernel has no PIDFD_GET_INFO: the file is
// its if the pidfd shows it not reaped after the read, since a PID is
// given again only once its process is reaped.
func uidByProc(fd, pid int) (uint32, error) {
	st, err := procfs.ReadStatus(pid)
	if err != nil {
		return 0, err
	}
	if pidfd.Reaped(fd) {
		return 0, fmt.Errorf("PID %d: reaped", pid)
	}
	return st.UID[0], nil
}
