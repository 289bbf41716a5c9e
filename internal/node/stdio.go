package node

import (
	"fmt"
	"io"
	"os"
	"path"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/streamcopy"
	"github.com/bproc/bproc/internal/shared/wire"
)

// stdio is a process's standard streams: the fds the child gets, and our
// ends. Our ends are non-blocking so that Go's poller owns them and closing
// one stops a copy in progress.
type stdio struct {
	child [3]int // the child's 0, 1, 2 (raw fds, closed after the start)

	stdin          *os.File // we write the user's input here
	stdout, stderr *os.File // we read the output here
	pty            *os.File // with -T: the terminal's master side (== stdin == stdout)
}

// openStdio prepares the streams: pipes, a pseudo-terminal (-T), /dev/null
// (-N), or files on the node opened as the caller (-I/-O/-E).
func (s *Slave) openStdio(ps *wire.ProcStart) (*stdio, error) {
	st := &stdio{child: [3]int{-1, -1, -1}}
	fail := func(err error) (*stdio, error) {
		st.closeChildEnds()
		st.closeOurEnds()
		return nil, err
	}
	switch {
	case ps.NoIO:
		for i := range st.child {
			fd, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				return fail(fmt.Errorf("open /dev/null: %w", err))
			}
			st.child[i] = fd
		}
	case ps.TTY != nil:
		ptm, pts, err := openPTY(ps.TTY.Window)
		if err != nil {
			return fail(err)
		}
		st.pty, st.stdin, st.stdout = ptm, ptm, ptm
		st.child[0] = pts
		for i := 1; i < 3; i++ {
			if st.child[i], err = unix.FcntlInt(uintptr(pts), unix.F_DUPFD_CLOEXEC, 0); err != nil {
				return fail(fmt.Errorf("dup pty: %w", err))
			}
		}
	default:
		for i := range st.child {
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
				return fail(fmt.Errorf("pipe: %w", err))
			}
			theirs, ours := p[1], p[0]
			if i == 0 {
				theirs, ours = p[0], p[1]
			}
			st.child[i] = theirs
			unix.SetNonblock(ours, true)
			f := os.NewFile(uintptr(ours), fmt.Sprintf("stdio%d", i))
			switch i {
			case 0:
				st.stdin = f
			case 1:
				st.stdout = f
			case 2:
				st.stderr = f
			}
		}
	}
	for i, name := range []string{ps.StdinFile, ps.StdoutFile, ps.StderrFile} {
		if name == "" {
			continue
		}
		flags := unix.O_RDONLY
		if i > 0 {
			flags = unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC
		}
		fd, err := s.openInView(name, ps.Dir, flags, 0o666, asuser.Cred{UID: ps.UID, GID: ps.GID, Groups: ps.Groups})
		if err != nil {
			return fail(fmt.Errorf("open %s: %w", name, err))
		}
		unix.Close(st.child[i])
		st.child[i] = fd
	}
	return st, nil
}

// closeChildEnds closes the child's copies once it has started (or failed to).
func (st *stdio) closeChildEnds() {
	for i, fd := range st.child {
		if fd >= 0 {
			unix.Close(fd)
			st.child[i] = -1
		}
	}
}

func (st *stdio) closeOurEnds() {
	for _, f := range []*os.File{st.stdin, st.stdout, st.stderr} {
		if f != nil {
			f.Close()
		}
	}
}

// pumpIn copies the channel to the process's stdin; the master's EOF closes
// it (on a terminal, it types ^D instead, as ssh -t does).
func (st *stdio) pumpIn(ch ssh.Channel) {
	if st.stdin == nil {
		go streamcopy.Copy(io.Discard, ch)
		return
	}
	go func() {
		streamcopy.Copy(st.stdin, ch)
		if st.pty == nil {
			st.stdin.Close()
		} else {
			st.stdin.Write([]byte{4})
		}
	}()
}

// openPTY opens a new pseudo-terminal of the node's devpts and returns its
// master side and the raw fd of its other side.
func openPTY(w wire.Window) (*os.File, int, error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, -1, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, -1, fmt.Errorf("unlock pty: %w", err)
	}
	// TIOCGPTPEER opens the other side without a path lookup, so it works
	// whatever is mounted at /dev/pts.
	sfd, _, e := syscall.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if e != 0 {
		unix.Close(mfd)
		return nil, -1, fmt.Errorf("open pty peer: %w", e)
	}
	if w.Rows > 0 && w.Cols > 0 {
		unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: w.Rows, Col: w.Cols})
	}
	return os.NewFile(uintptr(mfd), "/dev/ptmx"), int(sfd), nil
}

// processRoot is the root the node's processes run in: the view of the
// master's files when this node has one, else the node's own.
func (s *Slave) processRoot() string {
	if s.view != nil {
		return s.view.root()
	}
	return "/"
}

// openInView opens name as the process will see it, with the caller's
// credentials, so a node never writes or reads a file the caller could
// not, nor one outside the process's view: a relative name is taken from
// dir (the process's directory), and every symlink is resolved inside the
// process's root (RESOLVE_IN_ROOT), as the process itself would resolve
// it. Magic links (/proc/self/fd/N) are refused: they would be this
// daemon's.
func (s *Slave) openInView(name, dir string, flags int, mode uint32, cred asuser.Cred) (int, error) {
	root := s.processRoot()
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("the processes' root %s: %w", root, err)
	}
	defer unix.Close(rfd)
	if !path.IsAbs(name) {
		if dir == "" {
			dir = "/"
		}
		name = path.Join(dir, name)
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC | unix.O_NOCTTY),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	if flags&unix.O_CREAT != 0 {
		how.Mode = uint64(mode)
	}
	fd := -1
	err = asuser.Do(cred, func() error {
		for {
			fd, err = unix.Openat2(rfd, name, &how)
			if err != unix.EAGAIN && err != unix.EINTR {
				return err
			}
		}
	})
	return fd, err
}
