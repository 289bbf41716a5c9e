package node

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// A fork's second half, pipelined. Once the supervisor has let a fork go
// on, the child is looked for by a goroutine of its own (findChild),
// which holds the node's forkMu until the child has its PID, while the
// listener goes back to waiting for the tree's next notification. That
// notification is answered only after the child is held (forkDone.settle):
// a parent's wait4 must not reap a child bpslave holds no pidfd of, and
// the next fork must find this one's done. It also hurries the finder:
// a notification of the tree after a fork is most often the parent's
// wait4 or the child's execve, either of which says the child is there,
// so the finder looks at once rather than at its next poll.

// forkDone is a fork whose child is being looked for.
type forkDone struct {
	poke chan struct{} // buffered: look now
	done chan struct{} // closed once the child is held, or known lost
	// steer is the PID the child was steered to (0: none); child its
	// PID once held (set before done is closed); parent, with known, the
	// one-thread parent's state read at the fork, which is the child's
	// until its first call (space_inline.go).
	steer, child int
	parent       procState
	known        bool
}

// settle waits until d's child is held (nil: nothing to wait for).
func (d *forkDone) settle() {
	if d == nil {
		return
	}
	select {
	case d.poke <- struct{}{}:
	default:
	}
	<-d.done
}

// findChild looks for fc's child, expected at steer (0: anywhere), for
// the ghost pid, in a goroutine of its own, and records it in t. The
// caller holds forkMu, which the goroutine releases once the child has
// its PID and the master knows it. A fork the kernel restarted (its
// thread's next notification is read already, space_queue.go) made no
// child: t goes to carry, for that next call, still unsettled. end is
// called last.
func (sp *space) findChild(fc *forkCall, t *tracked, pid, steer int, carry func(*tracked), end func()) *forkDone {
	d := &forkDone{poke: make(chan struct{}, 1), done: make(chan struct{}), steer: steer}
	fc.poke = d.poke
	go func() {
		defer close(d.done)
		defer end()
		settled := true
		defer func() {
			if settled {
				close(t.ready)
			}
		}()
		defer sp.forkMu.Unlock()
		t.pidfd, t.nodePID, t.err = fc.find(steer)
		if t.err == errNoChild && fc.again() {
			t.err = nil
			settled = false
			carry(t)
			return
		}
		if t.err != nil {
			sp.s.log.Warn("process space: fork's child not found", "parent", fc.parent, "ghost", pid, "err", t.err)
			return
		}
		d.child = t.nodePID
		if t.nodePID != pid {
			// The child runs under another number: the master maps it, as
			// for a launched process whose PID was taken (wire.ReqForked),
			// before the next fork of the node asks for a ghost.
			if err := sp.tellMaster(pid, t.nodePID); err != nil {
				sp.s.log.Warn("process space: map ghost to node PID", "ghost", pid, "node_pid", t.nodePID, "err", err)
			}
		}
	}()
	return d
}

// nap waits for d or a poke; true if poked.
func (fc *forkCall) nap(d time.Duration) bool {
	if fc.poke == nil {
		time.Sleep(d)
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-fc.poke:
		return true
	case <-t.C:
		return false
	}
}

// tgidOf is the process of thread tid, and whether tid is its only
// thread, with that one's ignored signals (stat's sigignore) then. A
// process with one thread (most of those that fork) is its leader, whose
// TID is its PID: /proc/TID/stat says so, with the ignored signals, in
// one read (through procfs, stat costs 0.9x of status here, no longer the
// tenth that splitting all of status made it).
func (sp *space) tgidOf(tid int) (pid int, single bool, st procState, err error) {
	if st, err = readProcState(tid); err != nil {
		return 0, false, st, err
	} else if st.threads == 1 {
		return tid, true, st, nil
	}
	pid, err = tgidOf(tid)
	return pid, false, procState{}, err
}

// children is the parent's children that the fork may add to. A fork
// makes a child of the calling thread, listed in that thread's
// /proc/PID/task/TID/children: when the parent had one thread, the
// caller (blocked in the fork, so it could make no other), that one file
// is read, not every thread's.
func (fc *forkCall) children() (map[int]bool, error) {
	if !fc.single {
		return procfs.Children(fc.parent)
	}
	out := make(map[int]bool)
	if err := procfs.AddChildren(fc.parent, fc.parent, out); err != nil {
		return nil, err
	}
	return out, nil
}

// setLastPID makes pid+1 the next PID the node's namespace hands out.
// ns_last_pid is opened once; forkMu held.
func (sp *space) setLastPID(pid int) error {
	if sp.lastPID == nil {
		f, err := os.OpenFile("/proc/sys/kernel/ns_last_pid", os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("open ns_last_pid: %w", err)
		}
		sp.lastPID, sp.lastPIDFd = f, int(f.Fd())
	}
	var buf [20]byte
	if _, err := unix.Pwrite(sp.lastPIDFd, strconv.AppendInt(buf[:0], int64(pid), 10), 0); err != nil {
		return fmt.Errorf("write ns_last_pid %d: %w", pid, err)
	}
	return nil
}

// pidTaken: a process or thread has pid here, or a zombie. kill with
// signal 0 finds any task by its number, as /proc/PID does, and costs no
// path lookup (bpslave's /proc is its own PID namespace's).
func pidTaken(pid int) bool {
	return unix.Kill(pid, 0) != unix.ESRCH
}

// fullLook: while the child is expected at its steered PID, the first
// looks after the fork are only at that PID (one pidfd_open, which fails
// at once while the number is free); whether the fork is over and the
// parent's children are read only from this delay on, or once a
// notification of the tree has come: a missed steering is rare.
const fullLook = 160 * time.Microsecond

// errNoGhost: the master is there, and the fork's ghost is not.
var errNoGhost = errors.New("the master made no ghost for the child")

// errGhostLimit: the user holds as many descendant ghosts as the master
// allows (wire.ForkLimit).
var errGhostLimit = errors.New("the user holds as many descendant ghosts as the master allows")

// fail answers the notified call with -errno, without running it.
func (sp *space) fail(l int, id uint64, errno unix.Errno) {
	r := seccompResp{id: id, err: -int32(errno)}
	unix.Syscall(unix.SYS_IOCTL, uintptr(l), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&r)))
}
