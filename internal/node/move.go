package node

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/spawn"
	"github.com/bproc/bproc/internal/shared/vmadump"
	"github.com/bproc/bproc/internal/shared/wire"
)

// departWait bounds the wait for a process's old copy here to end when it
// moves back at once: its PID is the one it must have again.
const departWait = 5 * time.Second

// startMoved takes a process moved here (bproc_rfork, bproc_move): it
// reads the image the master sends first on the channel, rebuilds the
// process with the ghost's PID and the caller's credentials, in the
// node's view of the master's files when it has one, and relays as for
// any remote process. The PID must be the one the process had: its libc
// keeps it. A process that cannot be rebuilt is a ReqMoveFailed with the
// reason.
func (s *Slave) startMoved(nc ssh.NewChannel, ps *wire.ProcStart, st *stdio, log *slog.Logger) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		st.closeOurEnds()
		st.closeChildEnds()
		return
	}
	fail := func(err error) {
		log.Warn("move failed", "err", err)
		st.closeOurEnds()
		st.closeChildEnds()
		ch.SendRequest(wire.ReqMoveFailed, false, []byte(err.Error()))
		ch.Close()
		go ssh.DiscardRequests(reqs)
	}
	// The image, and not a byte more: what follows on the channel is
	// stdin.
	began := time.Now()
	img, rest, closeImg, err := s.readImage(ch, ps)
	if err != nil {
		fail(err)
		return
	}
	// The files it maps that this node does not see of the master's (a
	// program in the master's /tmp), placed where it finds them.
	if len(ps.Push) > 0 {
		if err := s.push(asuser.Cred{UID: ps.UID, GID: ps.GID, Groups: ps.Groups}, ps.Push, ps.PushSetID); err != nil {
			fail(err)
			return
		}
	}
	stub, err := ghost.StubPath()
	if err != nil {
		fail(err)
		return
	}
	a := vmadump.Attr{
		Stub: stub, PID: ps.PID, Uid: ps.UID, Gid: ps.GID, Groups: ps.Groups,
		Files: st.child[:], Setsid: true, Dir: ps.Dir, Return: &ps.Move.Return,
	}
	if s.view != nil {
		a.Root = s.view.root()
	}
	var done <-chan unix.WaitStatus
	a.Start = func(sa spawn.Attr, rebuild func(int) error) (int, error) {
		serve := s.space.withFilter(&sa)
		pid, d, err := s.reaper.StartTraced(sa, rebuild)
		if errors.Is(err, spawn.ErrPIDTaken) && s.reaper.AwaitExit(sa.PID, departWait) {
			// Its own old copy, moved away from here and still exiting.
			pid, d, err = s.reaper.StartTraced(sa, rebuild)
		}
		serve(err == nil)
		done = d
		return pid, err
	}
	read := time.Since(began)
	// The memory comes as the process is rebuilt.
	pid, err := vmadump.Restore(img, a)
	closeImg()
	st.closeChildEnds()
	if err == nil && rest() != 0 {
		err = fmt.Errorf("image: %d bytes announced and not part of it", rest())
	}
	if err != nil {
		fail(err)
		return
	}
	s.mu.Lock()
	s.startedLocked(pid)
	s.mu.Unlock()
	log.Info("moved process arrived", "node_pid", pid, "bytes", img.Bytes(),
		"read", read.Round(time.Microsecond), "rebuild", (time.Since(began) - read).Round(time.Microsecond))
	ch.SendRequest(wire.ReqStarted, false, wire.Encode(wire.Started{PID: pid}))
	s.relay(ps.PID, pid, ps.UID, ch, reqs, st, done)
}

// readImage reads a moved process's image: its layout, and its memory
// as Restore asks for it (vmadump.DecodeStreaming: the node holds a few
// MB of the process at a time), from the channel, or, when the master
// names a file of its own, from the node's view of the master's files,
// opened as the process's user (the master answers the view as that
// user: a user gets no image they could not read). rest is how much of
// what was announced is left unread; done closes the file.
func (s *Slave) readImage(ch io.Reader, ps *wire.ProcStart) (img *vmadump.Image, rest func() int64, done func(), err error) {
	var src io.Reader = ch
	done = func() {}
	if ps.Move.ImageFile != "" {
		if s.view == nil {
			return nil, nil, nil, fmt.Errorf("image file %s: this node has no view of the master's files", ps.Move.ImageFile)
		}
		fd, err := s.openInView(ps.Move.ImageFile, "/", unix.O_RDONLY, 0, asuser.Cred{UID: ps.UID, GID: ps.GID, Groups: ps.Groups})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("image: %w", err)
		}
		f := os.NewFile(uintptr(fd), ps.Move.ImageFile)
		done = func() { f.Close() }
		src = bufio.NewReaderSize(f, 1<<20)
	}
	lr := &io.LimitedReader{R: src, N: ps.Move.ImageSize}
	img, err = vmadump.DecodeStreaming(lr)
	if err != nil {
		done()
		return nil, nil, nil, err
	}
	return img, func() int64 { return lr.N }, done, nil
}
