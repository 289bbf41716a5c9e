package node

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/spawn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// drainGrace is how long output is still collected after the process has
// exited: a background child that keeps stdout open must not keep the
// ghost alive forever.
const drainGrace = 2 * time.Second

// proc is one remote process on this node.
type proc struct {
	pid int
	pty *os.File // the pseudo-terminal's master side, with -T
}

// startProc starts the process a channel asks for, and relays until it
// ends. A process that cannot start is a rejected channel with the reason.
func (s *Slave) startProc(nc ssh.NewChannel) {
	var ps wire.ProcStart
	if err := wire.Decode(wire.ChanProc, nc.ExtraData(), &ps); err != nil {
		nc.Reject(wire.RejectOther, err.Error())
		return
	}
	if err := ps.Validate(); err != nil {
		nc.Reject(wire.RejectOther, err.Error())
		return
	}
	if err := s.admit(ps.UID, ps.MaxProcs); err != nil {
		nc.Reject(wire.RejectOther, err.Error())
		return
	}
	// startProc returns when the process has ended (relay).
	defer s.release(ps.UID)
	log := s.log.With("pid", ps.PID)
	if s.view != nil {
		if err := s.view.waitUp(viewReady); err != nil {
			nc.Reject(wire.RejectOther, err.Error())
			return
		}
	}
	st, err := s.openStdio(&ps)
	if err != nil {
		nc.Reject(wire.RejectOther, err.Error())
		return
	}
	if ps.Move != nil {
		s.startMoved(nc, &ps, st, log)
		return
	}
	defer st.closeChildEnds()

	// The child changes to the directory as the caller: whether it exists
	// and may be entered is for the caller's credentials to find out (on
	// a diskless node it is in the view of the master's files, which
	// answers each user as that user).
	var warning string
	dir := ps.Dir
	if dir == "" {
		dir = "/"
	}
	if len(ps.Push) > 0 {
		if err := s.push(asuser.Cred{UID: ps.UID, GID: ps.GID, Groups: ps.Groups}, ps.Push, ps.PushSetID); err != nil {
			st.closeOurEnds()
			nc.Reject(rejectReason(err), fmt.Sprintf("%s: %v", ps.Argv[0], err))
			return
		}
	}
	if ps.Builtin == wire.BuiltinFileServer {
		ps.Path, ps.Argv = s.self, []string{"bpcp", "--server"}
		if s.view != nil {
			// bpcp sees what the node's processes see: the view. The
			// binary is reached there through a descriptor of it.
			ps.Path = s.selfInView()
		}
	}
	attr := spawn.Attr{
		Path: ps.Path, Argv: ps.Argv, Env: ps.Env, Dir: dir, PID: ps.PID,
		Uid: ps.UID, Gid: ps.GID, Groups: ps.Groups,
		Files: st.child[:], Setsid: true, Setctty: st.pty != nil,
	}
	if s.view != nil {
		attr.Root = s.view.root()
	}
	pid, done, err := s.startLocked(attr, &ps)
	if err != nil && dir != "/" && isChdirError(err) {
		warning = fmt.Sprintf("cannot change to directory %s on the node; running in /", dir)
		if errors.Is(err, syscall.EACCES) {
			warning = fmt.Sprintf("cannot change to directory %s on the node: permission denied; running in /", dir)
		}
		attr.Dir = "/"
		pid, done, err = s.startLocked(attr, &ps)
	}
	if err != nil {
		st.closeOurEnds()
		nc.Reject(rejectReason(err), fmt.Sprintf("%s: %v", ps.Argv[0], err))
		return
	}
	st.closeChildEnds()
	ch, reqs, err := nc.Accept()
	if err != nil {
		s.reaper.Signal(pid, syscall.SIGKILL)
		<-done
		st.closeOurEnds()
		s.forget(pid)
		return
	}
	if pid != ps.PID {
		log.Info("wanted PID taken on this node; using another", "node_pid", pid)
	}
	ch.SendRequest(wire.ReqStarted, false, wire.Encode(wire.Started{PID: pid}))
	if warning != "" {
		ch.SendRequest(wire.ReqWarning, false, []byte(warning))
	}
	s.relay(ps.PID, pid, ps.UID, ch, reqs, st, done)
}

// startLocked starts the process with the ghost's PID, or any PID when that
// number is taken here, and records it.
func (s *Slave) startLocked(attr spawn.Attr, ps *wire.ProcStart) (int, <-chan unix.WaitStatus, error) {
	start := func(attr spawn.Attr) (int, <-chan unix.WaitStatus, error) {
		serve := s.space.withFilter(&attr)
		pid, done, err := s.reaper.Start(attr)
		serve(err == nil)
		return pid, done, err
	}
	pid, done, err := start(attr)
	if errors.Is(err, spawn.ErrPIDTaken) || errors.Is(err, syscall.EINVAL) && attr.PID != 0 {
		attr.PID = 0
		pid, done, err = start(attr)
	}
	if err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	s.startedLocked(pid)
	s.mu.Unlock()
	return pid, done, nil
}

func (s *Slave) forget(pid int) {
	s.mu.Lock()
	delete(s.procs, pid)
	s.mu.Unlock()
}

func isChdirError(err error) bool {
	var se *spawn.ChildError
	return errors.As(err, &se) && se.Step == "chdir"
}

func rejectReason(err error) ssh.RejectionReason {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return wire.RejectNotFound
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.ENOEXEC), errors.Is(err, syscall.EPERM):
		return wire.RejectNotExecutable
	}
	return wire.RejectOther
}

// relay moves stdin, stdout, stderr, signals and window sizes until the
// process has ended and its output is drained, then reports the status
// (link.go; ghost is the ghost's PID, which names it to a resume; uid
// its user, whom a ghost taking it back must be).
func (s *Slave) relay(ghost, pid int, uid uint32, ch ssh.Channel, reqs <-chan *ssh.Request, st *stdio, done <-chan unix.WaitStatus) {
	defer s.forget(pid)
	defer st.closeOurEnds()
	l, lost := s.keeper.add(s, ghost, pid, uid, st, nil)
	l.run(ch, reqs, lost, done)
}
