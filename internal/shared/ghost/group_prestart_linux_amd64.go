package ghost

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// reqToken is the message that gives a prestarted template its token
// (stub.c's REQ_TOKEN), in a request's layout, with no fds.
const reqToken = 2

// prestarted is a template exec'd before its token was known.
type prestarted struct {
	pid   int
	files [3]*os.File
}

// Prestart execs the group's template before the token of its ghost is
// known, with files as its fds 0-2, so that its fork and exec overlap the
// caller's round trip to the master that gives the token (bpsh asks for
// the job meanwhile). The template waits for its token: the first Start
// (or StartMany's first ghost) with the very same files sends it, and
// returns the template's PID, which it got here. A Start with other files
// first, or Close, ends the unused template instead (it exits unseen) and
// reaps it: the caller must not wait for it with wait4(-1) before then.
// Prestart is for a Group that has started nothing yet.
func (g *Group) Prestart(files [3]*os.File) error {
	if err := g.check(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.closed:
		return ErrClosed
	case g.ctl != nil:
		return errors.New("ghost: prestart: the group has a template already")
	}
	pid, err := g.startTemplate("-", files) // its token comes on ctl
	if err != nil {
		return fmt.Errorf("ghost: prestart %s: %w", g.Argv[0], err)
	}
	g.pre = &prestarted{pid: pid, files: files}
	return nil
}

// usePrestarted gives the prestarted template tok if files are those it
// has, and returns its PID; false when it was not used (and is gone now).
func (g *Group) usePrestarted(tok Token, files [3]*os.File) (int, bool) {
	p := g.pre
	if files != p.files {
		g.dropPrestarted()
		return 0, false
	}
	var req [reqSize]byte
	binary.LittleEndian.PutUint32(req[0:4], reqToken)
	copy(req[8:24], tok[:])
	if err := unix.Sendmsg(int(g.ctl.Fd()), req[:], nil, nil, unix.MSG_NOSIGNAL); err != nil {
		// It died waiting (killed): a new template takes the token.
		g.dropPrestarted()
		return 0, false
	}
	g.pre = nil
	return p.pid, true
}

// dropPrestarted ends and reaps the prestarted template: with its control
// socket closed it exits, and SIGKILL ends it even if it is stopped.
func (g *Group) dropPrestarted() {
	g.ctl.Close()
	g.ctl = nil
	unix.Kill(g.pre.pid, unix.SIGKILL)
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(g.pre.pid, &ws, 0, nil); !errors.Is(err, unix.EINTR) {
			break
		}
	}
	g.pre = nil
}
