package node

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
	"github.com/bproc/bproc/internal/shared/wire"
)

// Mirroring what a process of the space shows: its argv after an exec,
// its process group and its session. The calls that change them (execve,
// execveat, setpgid, setsid) are notified (spaceFilter); the supervisor
// notes the process's state as it is before the call, lets the call go on
// and then watches the process until the call is over, sending the master
// (wire.ReqChange) what changed. Seccomp tells of a call before it runs,
// never after, so "over" is read from /proc/TID/syscall: the thread is in
// another call, or in none. An exec is seen done when the process's
// argument area has moved (/proc/PID/stat: a new stack); only then is its
// argv read and sent. An exec that fails changes nothing and sends
// nothing; sh's search of PATH is a row of those.

// mirrorWait bounds the watch of a call that does not seem to end: an exec
// may wait long for its program (a diskless node fetches it from the
// master), the others never block. The first look comes after
// mirrorFirst, doubling to mirrorMax: an exec takes a millisecond or so,
// and each look costs reads of /proc.
const (
	mirrorWaitExec  = time.Minute
	mirrorWaitGroup = 5 * time.Second
	mirrorFirst     = 500 * time.Microsecond
	mirrorMax       = 50 * time.Millisecond
)

// argvLag is how long a process's new argv waits before it is sent,
// unless the process forks first (flushChanges sends it at once): most
// execs in a fork-heavy loop are of programs that end within it
// (/bin/true, a compiler's short helpers), whose ghost's re-exec would
// cost the master's machine more than the fork's own ghost, for an argv
// no ps could have caught.
const argvLag = 10 * time.Millisecond

// mirrorState is the space's watches, by the PID of the process watched.
type mirrorState struct {
	mu      sync.Mutex
	watches map[int]*watch
}

// watch follows one process while calls that may change it are under
// way. Later calls that concern it join the watch (gen counts them), so
// that one goroutine sends its changes, in order.
type watch struct {
	pid    int
	sendMu sync.Mutex // sendChanges, from follow and from a fork's flush
	sent   procState  // what the master was told, or the state before the first call
	calls  []int      // the threads whose calls are under way
	gen    int
	execAt time.Time // when the exec's new argv was first seen, not yet sent (sendMu)
	// group: a setpgid or setsid joined the watch, whose change is sent
	// without lag; poke hurries a watch asleep for an exec's (follow).
	poke chan struct{}
	// Under mirrorState.mu.
	deadline time.Time
	group    bool
	// start runs follow after argvLag for a watch of execs alone (nil
	// once follow runs): stopped if the process ends first (ended).
	start *time.Timer
}

// procState is what the master mirrors of a process, and where its
// arguments are, which an exec moves.
type procState struct {
	pgid, sid int
	args      [4]uint64 // arg_start, arg_end, env_start, env_end
	threads   int       // not mirrored: tells a process's only thread
	sigIgn    uint64    // signals 1-31 ignored (a fork's hold, space_hold.go)
}

// mirror handles the notification n if it is a call whose effect the
// ghost mirrors, and says whether it was. It lets the call go on at once.
// known, if not nil, is the caller's state, known without a read: a
// fork's child making its first call (callQueue.childState).
func (sp *space) mirror(l int, n *seccompNotif, known *procState) bool {
	nr := int(n.nr)
	if nr != unix.SYS_EXECVE && nr != unix.SYS_EXECVEAT && nr != unix.SYS_SETPGID && nr != unix.SYS_SETSID {
		return false
	}
	// The caller's own state, read before its call runs; its only
	// thread is its leader, whose TID is its PID (/proc/PID/status would
	// say so too, at ten times the cost of stat).
	tid := int(n.pid)
	pid := tid
	var st procState
	var err error
	if known != nil {
		st = *known
	} else if st, err = readProcState(tid); err == nil && st.threads != 1 {
		pid, err = tgidOf(tid)
		if err == nil {
			st, err = readProcState(pid)
		}
	}
	// setpgid(pid, pgid) may move a child: watch that one.
	if target := int(int32(n.args[0])); err == nil && nr == unix.SYS_SETPGID && target > 0 && target != pid {
		pid = target
		st, err = readProcState(pid)
	}
	if err != nil {
		sp.proceed(l, n.id) // gone: the call will not run, or fails
		return true
	}
	wait := mirrorWaitGroup
	if nr == unix.SYS_EXECVE || nr == unix.SYS_EXECVEAT {
		wait = mirrorWaitExec
	}
	m := &sp.mirrors
	m.mu.Lock()
	w := m.watches[pid]
	fresh := w == nil
	if fresh {
		if m.watches == nil {
			m.watches = make(map[int]*watch)
		}
		w = &watch{pid: pid, sent: st, poke: make(chan struct{}, 1)}
		m.watches[pid] = w
	}
	run := fresh
	if nr == unix.SYS_SETPGID || nr == unix.SYS_SETSID {
		w.group = true
		select {
		case w.poke <- struct{}{}:
		default:
		}
		// A watch of execs not started yet starts now: a group's
		// change has no lag.
		if w.start != nil && w.start.Stop() {
			w.start, run = nil, true
		}
	} else if fresh {
		// A watch of execs alone first looks after argvLag (follow):
		// most processes of a fork-heavy loop end before, and their
		// watch then ends unseen (ended), with no goroutine, timer's
		// wake-up or /proc read of its own.
		w.start = time.AfterFunc(argvLag, func() {
			m.mu.Lock()
			started := w.start != nil
			w.start = nil
			m.mu.Unlock()
			if started {
				sp.follow(w, true)
			}
		})
		run = false
	}
	if !slices.Contains(w.calls, tid) {
		w.calls = append(w.calls, tid)
	}
	w.gen++
	if d := time.Now().Add(wait); d.After(w.deadline) {
		w.deadline = d // a setpgid does not cut short the watch of an exec
	}
	m.mu.Unlock()
	sp.proceed(l, n.id)
	if run {
		go sp.follow(w, false)
	}
	return true
}

// ended drops the watch of pid, ending by exit_group, if it waits for
// its first look still (an exec's, argvLag): the argv it would send
// after that lag is the argv of a process gone.
func (m *mirrorState) ended(pid int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.watches[pid]
	if w == nil || w.start == nil || !w.start.Stop() {
		return
	}
	w.start = nil
	delete(m.watches, pid)
}

// follow watches w until its calls are over, sending each change.
//
// A watch of execs alone first looks after argvLag (lagged: started
// then, by mirror's timer): its argv would wait that long anyway, and
// most programs of a fork-heavy loop have ended by then, so the looks
// before it (several /proc reads and a timer each, a fifth of bpslave's
// CPU per fork) found nothing to send. An argv seen at that first look
// is sent at once, as it is argvLag old. A setpgid or setsid joining
// meanwhile pokes the watch: its change has no lag.
func (sp *space) follow(w *watch, lagged bool) {
	m := &sp.mirrors
	m.mu.Lock()
	execs := !w.group
	m.mu.Unlock()
	delay := mirrorFirst
	if lagged {
		delay = argvLag
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for ; ; delay = min(2*delay, mirrorMax) {
		if lagged {
			timer.Stop() // that wait is over: look now
			lagged = false
		} else {
			select {
			case <-timer.C:
			case <-w.poke:
				timer.Stop()
				delay, execs = mirrorFirst, false
			}
		}
		timer.Reset(min(2*delay, mirrorMax))
		m.mu.Lock()
		calls, gen, deadline := w.calls, w.gen, w.deadline
		m.mu.Unlock()
		over := time.Now().After(deadline)
		if !over {
			over = true
			for _, tid := range calls {
				over = over && callOver(tid)
			}
		}
		alive, lagging := sp.sendChanges(w, execs)
		execs = false
		gone := !alive
		if over && !lagging || gone {
			m.mu.Lock()
			if w.gen == gen || gone {
				delete(m.watches, w.pid)
				m.mu.Unlock()
				return
			}
			m.mu.Unlock()
		}
	}
}

// flushChanges sends what changed in pid, before it forks: the master
// must hear of it first, so that the child's ghost, a copy of pid's,
// starts with pid's argv, group and session, as the child does.
func (sp *space) flushChanges(pid int) {
	m := &sp.mirrors
	m.mu.Lock()
	w := m.watches[pid]
	m.mu.Unlock()
	if w != nil {
		sp.sendChanges(w, true)
	}
}

// sendChanges tells the master what changed in w's process since it was
// last told; alive false: the process is gone. A new argv waits argvLag
// (lagging: not sent yet) unless now is set: the process forks.
func (sp *space) sendChanges(w *watch, now bool) (alive, lagging bool) {
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	st, err := readProcState(w.pid)
	if err != nil {
		return false, false
	}
	c := wire.Change{PID: w.pid}
	// An exec sets the new area up in steps (fs/binfmt_elf.c,
	// create_elf_tables): zero, then the arguments' bounds, then the
	// environment's start, which is the arguments' end; from then on
	// cmdline is whole. The environment's end comes last and may equal
	// its start (env -i), so it does not count.
	settled := st.args[0] != 0 && st.args[2] != 0
	if settled && [3]uint64(st.args[:3]) != [3]uint64(w.sent.args[:3]) {
		if w.execAt.IsZero() {
			w.execAt = time.Now()
		}
		lagging = !now && time.Since(w.execAt) < argvLag
	}
	if settled && !lagging && [3]uint64(st.args[:3]) != [3]uint64(w.sent.args[:3]) {
		var buf [wireArgvMax]byte
		b, err := procfs.Read(w.pid, "cmdline", buf[:])
		if err != nil {
			return false, false
		}
		if len(b) > 0 {
			c.Argv = strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		}
	}
	if st.pgid != w.sent.pgid || st.sid != w.sent.sid {
		c.Pgid, c.Sid = st.pgid, st.sid
	}
	if c.Argv == nil && c.Pgid == 0 {
		return true, lagging
	}
	sp.s.mu.Lock()
	conn := sp.s.conn
	sp.s.mu.Unlock()
	if conn != nil {
		// An error: the master is gone; a new one learns of the process anew.
		conn.SendRequest(wire.ReqChange, false, wire.Encode(c))
	}
	if c.Argv != nil {
		w.sent.args, w.execAt = st.args, time.Time{}
	}
	if c.Pgid != 0 {
		w.sent.pgid, w.sent.sid = st.pgid, st.sid
	}
	return true, lagging
}

// wireArgvMax is as much of an argv as is read for the master, which
// shows no more (ghost.MaxExecArgv).
const wireArgvMax = 4096

// callOver says whether thread tid is past the notified call: in another
// call or in none (/proc/TID/syscall: the number of the call it is in,
// -1 for none, "running" while it runs, which says nothing).
func callOver(tid int) bool {
	var buf [128]byte
	b, err := procfs.Read(tid, "syscall", buf[:])
	if err != nil {
		return true // gone (an exec from another thread takes the leader's TID)
	}
	f, _, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	nr, err := strconv.Atoi(f)
	if err != nil {
		return false // "running"
	}
	switch nr {
	case unix.SYS_EXECVE, unix.SYS_EXECVEAT, unix.SYS_SETPGID, unix.SYS_SETSID:
		return false
	}
	return true
}

// readProcState reads pid's process group, session and argument area.
func readProcState(pid int) (procState, error) {
	st, err := procfs.ReadStat(pid)
	if err != nil {
		return procState{}, err
	}
	return procState{pgid: st.Pgrp, sid: st.Session, threads: st.Threads, sigIgn: st.SigIgnore,
		args: [4]uint64{st.ArgStart, st.ArgEnd, st.EnvStart, st.EnvEnd}}, nil
}
