package master

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// A fork's new ghost comes from its parent's ghost as a socket pair: the
// parent makes one before it forks, the child keeps one end as its
// connection to the master, and the parent sends the other here on its
// own connection with the child's PID (ghost.EventForked) as soon as
// clone returns. The master builds the descendant's proc on it at once
// and answers the node (fork) without waiting for the new ghost to run,
// connect and say hello: that wait was most of the master's part of a
// fork (ARCHITECTURE.md, the whole process space). run writes CmdWhere
// into the new connection before the node hears the PID, so a master
// killed after that leaves the ghost its place, and one killed before
// closes the fd in flight with it: the child, told no grace, dies.
//
// What the master takes is the parent ghost's word, and a ghost is
// its user's process: the fd must be a unix stream socket whose peer is
// the parent ghost itself (SO_PEERCRED: a socket pair's ends name the
// process that made them), the PID a child of that ghost, not the ghost
// of another process, and a fork must have asked for it (proc.forking,
// one answer per CmdFork). Anything else is closed, and the fork fails.

// pairFDRoom is the control buffer of one ghost read: room for one fd,
// as an EventForked brings; the kernel drops any more a ghost sends.
const pairFDRoom = 24 // unix.CmsgSpace(4)

// dropForking forgets that a fork waits for p's ghost to answer r
// (EventForked), unless another fork waits by now.
func (p *proc) dropForking(r *rank) {
	p.mu.Lock()
	if p.forking == r {
		p.forking = nil
	}
	p.mu.Unlock()
}

// ghostForked takes p's ghost's answer to a CmdFork: pid is the child
// ghost's PID (0: the ghost could not make one) and fd the master's end
// of its connection (-1: none came), which it owns. On the ghost watch's
// goroutine: nothing here blocks.
func (p *proc) ghostForked(pid, fd int, drains bool) {
	m := p.m
	uid := p.job.cred.UID
	p.mu.Lock()
	r := p.forking
	p.forking = nil
	p.mu.Unlock()
	if r == nil {
		closeFD(fd)
		m.warns.Warn(m.log, uid, "ghost told of a child ghost no fork asked for: refused", "ghost", p.pid, "child", pid)
		return
	}
	fail := func(why string, err error) {
		closeFD(fd)
		m.warns.Warn(m.log, uid, "fork on node: "+why+"; the fork fails", "node", r.node, "ghost", p.pid, "child", pid, "err", err)
		m.mu.Lock()
		born := r.desc.born // nil: the fork is over
		m.mu.Unlock()
		select {
		case born <- 0:
		default:
		}
	}
	if pid <= 0 {
		fail("its ghost could not make a child", nil)
		return
	}
	if err := p.checkPaired(pid, fd); err != nil {
		fail("its ghost's child refused", err)
		return
	}
	c, err := pairConn(fd, drains)
	fd = -1
	if err != nil {
		fail("its ghost's child refused", err)
		return
	}
	np := &proc{m: m, pid: pid, rank: r, job: r.job, ghost: c, release: r.desc.slot.release}
	// Claimed and handed to the fork at once: a fork that gives up
	// meanwhile finds it (drop).
	m.mu.Lock()
	claimed := m.pending[r.token] == r && m.procs[pid] == nil && r.desc.paired != nil
	if claimed {
		delete(m.pending, r.token)
		r.desc.paired <- np
	}
	m.mu.Unlock()
	if !claimed {
		c.Close()
		fail("its ghost's child refused", errors.New("the fork is over, or the PID has a ghost already"))
		return
	}
	// Counted as a descendant from now on (api_conns_desc.go).
	r.desc.slot.arrived()
}

// checkPaired checks that fd, sent by p's ghost with the PID pid of its
// new child, is that child's connection: a unix stream socket the ghost
// made itself, and pid a child of the ghost.
func (p *proc) checkPaired(pid, fd int) error {
	if fd < 0 {
		return errors.New("no connection came with its PID")
	}
	if t, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || t != unix.SOCK_STREAM {
		return fmt.Errorf("its connection is not a stream socket (type %d, %v)", t, err)
	}
	// Only a unix socket names a peer's PID (any other's SO_PEERCRED
	// says 0), so the check below would refuse another kind too; the
	// domain is checked on its own all the same, for one syscall, so that
	// this check does not rest on what each family's SO_PEERCRED says.
	if d, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || d != unix.AF_UNIX {
		return fmt.Errorf("its connection is not a unix socket (domain %d, %v)", d, err)
	}
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return fmt.Errorf("its connection: SO_PEERCRED: %w", err)
	}
	if int(cred.Pid) != p.pid || cred.Uid != p.job.cred.UID {
		return fmt.Errorf("its connection's peer is PID %d (uid %d), not the forking ghost %d (uid %d)", cred.Pid, cred.Uid, p.pid, p.job.cred.UID)
	}
	if pp := ghostParent(pid); pp != p.pid {
		return fmt.Errorf("PID %d is not a child of ghost %d (its parent: %d)", pid, p.pid, pp)
	}
	return nil
}

func closeFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}
