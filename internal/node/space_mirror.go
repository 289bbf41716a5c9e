package node

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/wire"
)

// Mirroring what a process of the space shows: its argv after an exec,
// its process group and its session. The calls that change them (execve,
// execveat, setpgid, setsid) are notified (spaceFilter); the supervisor
// notes the process's state as it is before the call, lets the call go on
// and then watches the process until the call is over, sending the master
// (wire.ReqChange) what changed. Seccomp tells of a call before it runs,
// never after, so "over" is read from /proc/TID/syscall: the thread is in
// another call, or in none. An exec that fails changes nothing and sends
// nothing; sh's search of PATH is a row of those.

// mirrorWait bounds the watch of a call that does not seem to end: an exec
// may wait long for its program (a diskless node fetches it from the
// master), the others never block.
const (
	mirrorWaitExec  = time.Minute
	mirrorWaitGroup = 5 * time.Second
)

// mirrorState is the space's watches, by the PID of the process watched.
type mirrorState struct {
	mu      sync.Mutex
	watches map[int]*watch
}

// watch follows one process while calls that may change it are under
// way. Later calls that concern it join the watch (gen counts them), so
// that one goroutine sends its changes, in order.
type watch struct {
	pid      int
	sendMu   sync.Mutex // sendChanges, from follow and from a fork's flush
	sent     procState  // what the master was told, or the state before the first call
	calls    []int      // the threads whose calls are under way
	gen      int
	deadline time.Time
}

// procState is what the master mirrors of a process.
type procState struct {
	cmdline   []byte // /proc/PID/cmdline: the args, each ended by a NUL
	pgid, sid int
}

// mirror handles the notification n if it is a call whose effect the
// ghost mirrors, and says whether it was. It lets the call go on at once.
func (sp *space) mirror(l int, n *seccompNotif) bool {
	nr := int(n.nr)
	if nr != unix.SYS_EXECVE && nr != unix.SYS_EXECVEAT && nr != unix.SYS_SETPGID && nr != unix.SYS_SETSID {
		return false
	}
	tid := int(n.pid)
	pid, err := tgidOf(tid)
	if err != nil {
		sp.proceed(l, n.id) // gone: the call will not run
		return true
	}
	// setpgid(pid, pgid) may move a child: watch that one.
	if nr == unix.SYS_SETPGID && int32(n.args[0]) > 0 {
		pid = int(int32(n.args[0]))
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
		st, err := readProcState(pid)
		if err != nil {
			m.mu.Unlock()
			sp.proceed(l, n.id) // no such process: the call fails
			return true
		}
		if m.watches == nil {
			m.watches = make(map[int]*watch)
		}
		w = &watch{pid: pid, sent: st}
		m.watches[pid] = w
	}
	w.calls = append(w.calls, tid)
	w.gen++
	w.deadline = time.Now().Add(wait)
	m.mu.Unlock()
	sp.proceed(l, n.id)
	if fresh {
		go sp.follow(w)
	}
	return true
}

// follow watches w until its calls are over, sending each change.
func (sp *space) follow(w *watch) {
	m := &sp.mirrors
	for delay := 50 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
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
		gone := !sp.sendChanges(w)
		if over || gone {
			m.mu.Lock()
			if w.gen == gen || gone {
				delete(m.watches, w.pid)
				m.mu.Unlock()
				return
			}
			m.mu.Unlock()
		}
		time.Sleep(delay)
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
		sp.sendChanges(w)
	}
}

// sendChanges tells the master what changed in w's process since it was
// last told; false: the process is gone.
func (sp *space) sendChanges(w *watch) bool {
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	st, err := readProcState(w.pid)
	if err != nil {
		return false
	}
	c := wire.Change{PID: w.pid}
	// Empty while an exec is between the old memory and the new.
	if len(st.cmdline) > 0 && !bytes.Equal(st.cmdline, w.sent.cmdline) {
		c.Argv = strings.Split(strings.TrimSuffix(string(st.cmdline), "\x00"), "\x00")
	}
	if st.pgid != w.sent.pgid || st.sid != w.sent.sid {
		c.Pgid, c.Sid = st.pgid, st.sid
	}
	if c.Argv == nil && c.Pgid == 0 {
		return true
	}
	sp.s.mu.Lock()
	conn := sp.s.conn
	sp.s.mu.Unlock()
	if conn == nil {
		return true
	}
	if _, _, err := conn.SendRequest(wire.ReqChange, false, wire.Encode(c)); err != nil {
		return true // the master is gone; a new one learns of the process anew
	}
	if c.Argv != nil {
		w.sent.cmdline = st.cmdline
	}
	if c.Pgid != 0 {
		w.sent.pgid, w.sent.sid = st.pgid, st.sid
	}
	return true
}

// callOver says whether thread tid is past the notified call: in another
// call or in none (/proc/TID/syscall: the number of the call it is in,
// -1 for none, "running" while it runs, which says nothing).
func callOver(tid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/syscall")
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

// readProcState reads pid's argv, process group and session.
func readProcState(pid int) (procState, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return procState{}, err
	}
	var st procState
	if st.pgid, st.sid, err = parseGroups(stat); err != nil {
		return procState{}, err
	}
	if st.cmdline, err = os.ReadFile(dir + "/cmdline"); err != nil {
		return procState{}, err
	}
	return st, nil
}

// parseGroups takes the process group and session from /proc/PID/stat:
// "pid (comm) state ppid pgrp session ...", where comm may hold anything,
// spaces and parentheses too, so the fields count from the last ')'.
func parseGroups(stat []byte) (pgid, sid int, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc stat %.40q: no ')' after the command", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 4 {
		return 0, 0, fmt.Errorf("/proc stat %.40q: %d fields after the command, want at least 4", stat, len(f))
	}
	if pgid, err = strconv.Atoi(f[2]); err != nil {
		return 0, 0, fmt.Errorf("/proc stat: process group %q: %w", f[2], err)
	}
	if sid, err = strconv.Atoi(f[3]); err != nil {
		return 0, 0, fmt.Errorf("/proc stat: session %q: %w", f[3], err)
	}
	return pgid, sid, nil
}
