package node

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
	"github.com/bproc/bproc/internal/shared/spawn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// The whole process space on a node. Every process the node starts for
// the master carries a seccomp filter (spaceFilter) whose listener
// bpslave holds; the filter is inherited, so every descendant notifies
// too. On a fork the supervisor (serveListener) asks the master for the
// child's ghost (ReqFork), steers the kernel to the ghost's PID through
// ns_last_pid and lets the fork go on; it holds a pidfd of the child from
// the moment it exists, which the master's ChanAdopt channel then uses for
// signals and for the exit status (adopt.go). A child that did not get
// the ghost's PID (another took it first) is found among its parent's
// children and mapped on the master (space_child.go, wire.ReqForked).

// spaceEnv=0 in bpslave's environment (a namespace node inherits
// bpmaster's) switches the tracking off: for the benchmark's baseline, or
// a node whose forks must not wait for the master.
const spaceEnv = "BPROC_SPACE"

// childWait bounds how long a fork's child takes to appear once the
// kernel was told to go on. A fork that failed (EAGAIN) or was restarted
// is seen as over at once (forkCall.over); this is for what cannot be
// told.
const childWait = 5 * time.Second

// space is the node's part of the process space.
type space struct {
	s  *Slave
	on bool
	// forkMu serialises the forks of the space on the node: ns_last_pid
	// is one number for the whole PID namespace.
	forkMu sync.Mutex
	// lastPID is /proc/sys/kernel/ns_last_pid, open once (under forkMu);
	// lastPIDFd its fd, as File.Fd costs a fcntl each time.
	lastPID   *os.File
	lastPIDFd int

	mu      sync.Mutex
	tracked map[int]*tracked // by PID, from the fork until the adopt channel ends

	mirrors mirrorState // execs, groups and sessions (space_mirror.go)
	sigs    sigHolds    // signals relayed from ghosts, timed (space_sighold.go)
	// statusKept: the kernel has kept a status for a pidfd
	// (adopt_exit.go); until then exit calls' codes are noted.
	statusKept atomic.Bool
}

// tracked is a descendant: its pidfd, or the news that its fork made no
// child with the ghost's PID.
type tracked struct {
	ready   chan struct{} // closed when pidfd (or failed) is set
	pidfd   int
	nodePID int // the child's PID here: the ghost's, unless it was taken
	err     error
	// called is the status its exit call named, with exitCalled set;
	// signalled the signal relayed to it that it would die of; both
	// noted only where the kernel keeps no status (adopt_exit.go).
	called    atomic.Uint32
	signalled atomic.Uint32
}

func newSpace(s *Slave) *space {
	on := os.Getenv(spaceEnv) != "0" && len(spaceFilter()) > 0
	return &space{s: s, on: on, tracked: make(map[int]*tracked)}
}

// entry returns the record of pid, making it if need be.
func (sp *space) entry(pid int) *tracked {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	t := sp.tracked[pid]
	if t == nil {
		t = &tracked{ready: make(chan struct{}), pidfd: -1}
		sp.tracked[pid] = t
	}
	return t
}

func (sp *space) forget(pid int, t *tracked) {
	sp.mu.Lock()
	if sp.tracked[pid] == t {
		delete(sp.tracked, pid)
	}
	sp.mu.Unlock()
}

// withFilter gives attr the space's filter. Call the returned function
// after the start: with the start's error, it takes the listener from the
// child and serves it.
func (sp *space) withFilter(attr *spawn.Attr) func(started bool) {
	if !sp.on {
		return func(bool) {}
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		sp.s.log.Warn("process space: socketpair; this process's children get no ghosts", "err", err)
		return func(bool) {}
	}
	attr.Notify, attr.NotifySock = spaceFilter(), fds[1]
	return func(started bool) {
		unix.Close(fds[1])
		defer unix.Close(fds[0])
		if !started {
			return
		}
		l, err := recvFD(fds[0])
		if err != nil {
			sp.s.log.Warn("process space: no listener from the child", "err", err)
			return
		}
		go sp.serveListener(l)
	}
}

// recvFD takes the one fd the child sent (it has sent it before execve,
// which the start waited for, or failed).
func recvFD(sock int) (int, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("recvmsg: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("control message: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("SCM_RIGHTS: %v", err)
	}
	return fds[0], nil
}

// seccompNotif and seccompResp are the kernel's struct seccomp_notif and
// seccomp_notif_resp (x/sys/unix has neither).
type seccompNotif struct {
	id    uint64
	pid   uint32
	flags uint32
	nr    int32
	arch  uint32
	ip    uint64
	args  [6]uint64
}

type seccompResp struct {
	id    uint64
	val   int64
	err   int32
	flags uint32
}

// serveListener answers the notifications of one tree of processes, in
// order, until all of them are gone. A notification is answered only
// after the one before it is done with: a wait4 of a parent is let go
// only once the child its fork made before is held by a pidfd.
func (sp *space) serveListener(l int) {
	defer unix.Close(l)
	q := newCallQueue(newExitHolds(func(id uint64) { sp.proceed(l, id) }, &sp.sigs))
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		// The fork answered last must have its child held before the
		// next notification is answered (a parent's wait4 would reap
		// it); settling pokes its finder, as that notification most
		// often says the child is there (space_pipe.go).
		var pending *forkDone
		for n := range q.ch {
			pending.settle()
			q.exits.taken(n.pid) // space_exithold.go
			pending = sp.handle(l, n, q)
			q.handled(pending)
		}
		pending.settle()
		q.settle()
	}()
	if err := sp.readListener(l, q); err != nil { // space_queue.go
		sp.s.log.Warn("process space: seccomp listener", "err", err)
	}
	close(q.ch)
	<-handled // before the listener's close
}

// handle answers one notification; q is its listener's queue. A fork's
// child is looked for after the fork is let go, by a goroutine of its
// own (space_pipe.go): the returned forkDone, which the listener settles
// before it answers the next notification of the tree.
func (sp *space) handle(l int, n *seccompNotif, q *callQueue) *forkDone {
	seen := q.seen(n.pid)
	// Once n is done with: by the finder when there is one, which asks
	// q.seen whether the thread has called again since.
	finder := false
	defer func() {
		if !finder {
			q.done(n, seen)
		}
	}()
	c := q.take(n) // space_queue.go: only a fork takes one
	defer func() {
		if c != nil { // not used: the fork never ran
			c.t.err = errNoChild
			close(c.t.ready)
		}
	}()
	if sp.mirror(l, n, q.childState(n)) || sp.sigaction(l, n, q.exits) { // space_nocldwait.go
		return nil
	}
	if exitCall(n) {
		// A thread's end sends no SIGCHLD: only a process's end is
		// timed against its parent's calls (space_exithold.go).
		if int(n.nr) == unix.SYS_EXIT {
			if st, err := readProcState(int(n.pid)); err != nil || st.threads > 1 {
				sp.proceed(l, n.id)
				return nil
			}
		}
		sp.noteExit(n)               // adopt_exit.go
		sp.mirrors.ended(int(n.pid)) // space_mirror.go
		q.exits.exit(n.pid, n.id)
		return nil
	}
	if int(n.nr) == unix.SYS_WAIT4 || int(n.nr) == unix.SYS_WAITID {
		sp.proceed(l, n.id)
		return nil
	}
	parent, single, pst, err := sp.tgidOf(int(n.pid))
	if err != nil {
		sp.proceed(l, n.id) // it is gone: the call will not run
		return nil
	}
	sp.flushChanges(parent) // space_mirror.go
	q.exits.forker(parent)
	sp.forkMu.Lock()
	locked := true
	defer func() {
		if locked {
			sp.forkMu.Unlock()
		}
	}()
	// With CLONE_PARENT the child is the caller's sibling.
	fc := &forkCall{tid: int(n.pid), nr: n.nr, parent: parent, single: single,
		again: func() bool { return q.seen(n.pid) > seen }}
	if int(n.nr) == unix.SYS_CLONE && n.args[0]&unix.CLONE_PARENT != 0 {
		fc.single = false
		if pp, err := ppidOf(parent); err == nil {
			fc.parent = pp
		}
	}
	var pid int
	var t *tracked
	if c != nil {
		pid, t, c = c.pid, c.t, nil // this thread's fork again, restarted
		fc.before, err = fc.children()
	} else {
		// The parent's children are read before the master is asked,
		// not after its answer, which the parent waits for (a
		// goroutine reading them meanwhile cost more than it saved);
		// a CLONE_PARENT child's grandparent may be outside the space,
		// its children are read last, as late as they can be.
		var kids map[int]bool
		var kidsErr error
		if fc.parent == parent {
			kids, kidsErr = fc.children()
		}
		pid, err = sp.askMaster(parent)
		if fc.parent != parent && err == nil {
			kids, kidsErr = fc.children()
		}
		if errors.Is(err, errNoGhost) || errors.Is(err, errGhostLimit) {
			// The master is there but its ghost is not (stopped or
			// killed before its hello, or its user holds as many as the
			// master allows): the fork fails, as it would for want of
			// memory, and no process runs without a ghost.
			sp.s.log.Warn("process space: fork fails", "parent", parent, "err", err)
			sp.fail(l, n.id, unix.EAGAIN)
			return nil
		}
		if err != nil {
			sp.s.log.Warn("process space: fork without a ghost", "parent", parent, "err", err)
			sp.proceed(l, n.id)
			return nil
		}
		t = sp.entry(pid)
		fc.before, err = kids, kidsErr
	}
	if err != nil {
		t.err = fmt.Errorf("fork of PID %d: %w", parent, err)
		close(t.ready)
		sp.proceed(l, n.id) // it is gone: the call will not run
		return nil
	}
	// Steer unless the number is taken here already (by a thread: the
	// ghost's PID was free on the master, not here); the child is then
	// found wherever it lands.
	steer := pid
	if pidTaken(pid) {
		steer = 0
	} else if err := sp.setLastPID(pid - 1); err != nil {
		sp.s.log.Warn("process space: steer the PID", "err", err)
		steer = 0
	}
	// The parent blocked in its fork, its one thread's SIGCHLD action
	// read with its state is still its own.
	var ignored bool
	if single && fc.parent == parent {
		ignored = pst.sigIgn&(1<<(unix.SIGCHLD-1)) != 0
	} else {
		ignored = sigchldIgnored(fc.parent)
	}
	hold := holdFork(int(n.pid), parent, fc.parent, ignored, q.exits) // space_hold.go: nil unless it ignores SIGCHLD
	sp.proceed(l, n.id)
	locked = false // the finder holds forkMu until the child has its PID
	finder = true
	d := sp.findChild(fc, t, pid, steer, func(t *tracked) {
		q.keep(n.pid, &carried{pid: pid, t: t})
	}, func() { q.done(n, seen) })
	d.parent, d.known = pst, single && fc.parent == parent
	if hold != nil {
		hold.release(d, t) // lets go of the child once it is held
	}
	return d
}

// tellMaster has the master record that ghost's process is nodePID here.
// It waits for the answer: the child's own forks name it by nodePID.
func (sp *space) tellMaster(ghost, nodePID int) error {
	sp.s.mu.Lock()
	conn := sp.s.conn
	sp.s.mu.Unlock()
	if conn == nil {
		return errors.New("no master")
	}
	ok, _, err := conn.SendRequest(wire.ReqForked, true, wire.Encode(wire.Forked{PID: ghost, NodePID: nodePID}))
	if err == nil && !ok {
		err = errors.New("the master refused")
	}
	return err
}

// proceed lets the notified call run.
func (sp *space) proceed(l int, id uint64) {
	r := seccompResp{id: id, flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	unix.Syscall(unix.SYS_IOCTL, uintptr(l), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&r)))
}

// askMaster asks for the ghost of parent's child and returns its PID.
func (sp *space) askMaster(parent int) (int, error) {
	sp.s.mu.Lock()
	conn := sp.s.conn
	sp.s.mu.Unlock()
	if conn == nil {
		return 0, errors.New("no master")
	}
	ok, reply, err := conn.SendRequest(wire.ReqFork, true, wire.Encode(wire.Fork{Parent: parent}))
	if err != nil {
		return 0, err
	}
	if !ok && string(reply) == wire.ForkNoGhost {
		return 0, errNoGhost
	}
	if !ok && string(reply) == wire.ForkLimit {
		return 0, errGhostLimit
	}
	if !ok {
		return 0, errors.New("the master refused")
	}
	var r wire.ForkReply
	if err := wire.Decode(wire.ReqFork, reply, &r); err != nil {
		return 0, err
	}
	if r.PID <= 1 {
		return 0, fmt.Errorf("bad PID %d from the master", r.PID)
	}
	return r.PID, nil
}

// alive: pid is there and not a zombie.
func alive(pid int) bool {
	st, err := procfs.ReadStat(pid)
	return err == nil && !st.Ended()
}

// tgidOf is the process of thread tid.
func tgidOf(tid int) (int, error) {
	st, err := procfs.ReadStatus(tid)
	return st.Tgid, err
}

// ppidOf is pid's parent; a thread's is its process's.
func ppidOf(pid int) (int, error) {
	st, err := procfs.ReadStat(pid)
	return st.PPid, err
}
