package master

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// change answers a node's ReqChange: the ghost of a process of the space
// shows what the process became (wire.Change: its argv after an exec, its
// process group and session). The node reports states, not acts, and may
// report one twice: the ghost is told only what differs from what it
// shows. It runs on the node's request loop; nothing here waits on more
// than a write to a ghost's socket.
func (m *Master) change(n *node, r *ssh.Request) error {
	var c wire.Change
	if err := wire.Decode(r.Type, r.Payload, &c); err != nil {
		return fmt.Errorf("node %d: %w", n.num, err)
	}
	m.mu.Lock()
	p := n.procByNodePID(c.PID)
	ghostOf := func(nodePID int) int { // the ghost's PID of a node PID, or 0
		if q := n.procByNodePID(nodePID); q != nil {
			return q.pid
		}
		return 0
	}
	var pgidGhost int
	if c.Pgid > 0 {
		pgidGhost = ghostOf(c.Pgid)
	}
	m.mu.Unlock()
	if p == nil {
		return nil // ended meanwhile, or never of the space
	}
	if c.Argv != nil {
		if err := p.showArgv(c.Argv); err != nil && !ghostGone(err) {
			return fmt.Errorf("node %d: PID %d exec'd: %w", n.num, c.PID, err)
		}
	}
	if c.Pgid > 0 && p.rank != nil && p.rank.desc != nil {
		if err := p.mirrorGroup(c.PID, c.Pgid, c.Sid, pgidGhost); err != nil && !ghostGone(err) {
			return fmt.Errorf("node %d: PID %d changed its group: %w", n.num, c.PID, err)
		}
	}
	return nil
}

// ghostGone says that a write to a ghost failed because it has ended (a
// process that execs and ends at once, /bin/true, often ends before its
// ghost hears of the exec): nothing to tell anyone.
func ghostGone(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// showArgvs puts into out[i] the argv that the ghost of ps[i] shows, for
// the processes of the space that exec'd or were forked on a node: their
// ghosts hold it (showArgv, and a forked ghost starts with its parent's).
func showArgvs(ps []*proc, out []localapi.Proc) {
	for i, p := range ps {
		p.mu.Lock()
		execd := p.execd
		p.mu.Unlock()
		if !execd && p.rank.desc == nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid))
		if err == nil && len(b) > 0 {
			out[i].Argv = strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		}
	}
}

// showArgv makes p's ghost show argv, unless it does already.
func (p *proc) showArgv(argv []string) error {
	p.mu.Lock()
	p.execd = true
	p.mu.Unlock()
	want := ghost.ExecArgv(argv)
	if len(want) == 0 {
		return nil
	}
	if have, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid)); err != nil || bytes.Equal(have, want) {
		return nil // the ghost is gone, or shows it
	}
	// The ghost exec'd again knows nothing of where its process is, nor
	// what it wrote: told before any more output reaches it (noteMu).
	pid, grace := p.where()
	p.rs.noteMu.Lock()
	defer p.rs.noteMu.Unlock()
	if err := ghost.WriteExec(p.ghost, argv); err != nil {
		return err
	}
	p.tellWhereLocked(pid, grace)
	p.keepAgain() // procs_stdin_ghost.go
	return nil
}

// mirrorGroup makes the ghost of a descendant follow its process (node
// PID nodePID) into session sid or process group pgid, where the kernel
// lets the ghost: a ghost cannot join another session than its own or
// one it makes (setsid), nor a group that has no member in its session.
// pgidGhost is the ghost of the process whose PID pgid is, if any: node
// group G is the group of G's ghost here, which for a job's process is
// not G (its group on the node is bpslave's setsid; its ghost's is the
// caller's, bpsh's).
//
// A job's own process (not a descendant) is left alone: bpslave made it
// a session leader on the node, and its ghost stays in bpsh's group and
// session, where the caller's job control wants it.
func (p *proc) mirrorGroup(nodePID, pgid, sid, pgidGhost int) error {
	if sid == nodePID {
		if s, err := unix.Getsid(p.pid); err != nil || s == p.pid {
			return nil
		}
		return ghost.WriteSetsid(p.ghost)
	}
	target := pgid // a group whose leader has ended: its number is the ghosts' too
	switch {
	case pgid == nodePID:
		target = p.pid
	case pgidGhost != 0:
		g, err := unix.Getpgid(pgidGhost)
		if err != nil {
			return nil // its ghost ended meanwhile
		}
		target = g
	}
	if g, err := unix.Getpgid(p.pid); err != nil || g == target {
		return nil
	}
	return ghost.WriteSetpgid(p.ghost, target)
}
