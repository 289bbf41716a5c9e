package node

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/pidfd"
	"github.com/bproc/bproc/internal/shared/procfs"
)

// TestZombieStatus: where the kernel keeps no status for a pidfd, a
// descendant's is read from its zombie: an exit code and a signal, and
// nothing once it is reaped (its PID may be another's by then).
func TestZombieStatus(t *testing.T) {
	for _, c := range []struct {
		script string
		want   unix.WaitStatus
	}{
		{"exit 7", 7 << 8},
		{"exit 0", 0},
		{"kill -TERM $$", unix.WaitStatus(syscall.SIGTERM)},
	} {
		cmd := exec.Command("/bin/sh", "-c", c.script)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal(err)
		}
		for i := 0; i < 500; i++ {
			if st, err := procfs.ReadStat(pid); err != nil || st.State == 'Z' {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		ws, ok := zombieStatus(fd, pid)
		if !ok || ws != c.want {
			t.Errorf("zombieStatus(sh -c %q) = %#x, %v; want %#x, true", c.script, ws, ok, c.want)
		}
		if pidfd.Reaped(fd) {
			t.Errorf("sh -c %q: reaped before its parent waited", c.script)
		}
		cmd.Wait()
		if !pidfd.Reaped(fd) {
			t.Errorf("sh -c %q: not reaped after its parent waited", c.script)
		}
		if ws, ok := zombieStatus(fd, pid); ok {
			t.Errorf("zombieStatus(reaped sh -c %q) = %#x, want none", c.script, ws)
		}
		unix.Close(fd)
	}
}

// TestNoteExit: an exit call's code is noted for the descendant that
// made it, exit(0) too, until the kernel has shown it keeps statuses:
// one held under its ghost's PID, one at another PID than its ghost's,
// and one whose call came from a thread other than its main one (a Go
// program's exit_group); nothing for a PID no descendant has. (PIDs
// from 5,000,000 are past the kernel's PID_MAX_LIMIT: no process has
// them.)
func TestNoteExit(t *testing.T) {
	sp := &space{tracked: make(map[int]*tracked)}
	held := func(pid, nodePID int) *tracked {
		tr := &tracked{ready: make(chan struct{}), pidfd: 100, nodePID: nodePID}
		close(tr.ready)
		sp.tracked[pid] = tr
		return tr
	}
	a, b, c := held(5_000_010, 5_000_010), held(5_000_011, 5_000_012), held(5_000_013, 5_000_013)
	notify := func(pid int, code uint64) {
		sp.noteExit(&seccompNotif{pid: uint32(pid), nr: unix.SYS_EXIT_GROUP, args: [6]uint64{code}})
	}
	notify(5_000_010, 0x107) // only the low byte is a status
	notify(5_000_011, 4)     // a ghost's PID whose process has another
	notify(5_000_099, 3)     // not a descendant
	if got := a.called.Load(); got != exitCalled|7<<8 {
		t.Errorf("exit_group(0x107) noted %#x, want %#x", got, exitCalled|7<<8)
	}
	if got := b.called.Load(); got != 0 {
		t.Errorf("a call by node PID 5000011 noted %#x for the process at 5000012", got)
	}
	notify(5_000_012, 3) // that process, by its own PID
	if got := b.called.Load(); got != exitCalled|3<<8 {
		t.Errorf("descendant at another PID noted %#x, want %#x", got, exitCalled|3<<8)
	}

	// A thread of this test's process, not its main one: of two locked
	// at once, one at least.
	tids, release := make(chan int), make(chan struct{})
	defer close(release)
	for range 2 {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids <- unix.Gettid()
			<-release
		}()
	}
	thread := <-tids
	if other := <-tids; thread == os.Getpid() {
		thread = other
	}
	self := held(os.Getpid(), os.Getpid())
	notify(thread, 9)
	if got := self.called.Load(); got != exitCalled|9<<8 {
		t.Errorf("exit_group by thread %d of process %d noted %#x, want %#x", thread, os.Getpid(), got, exitCalled|9<<8)
	}

	sp.statusKept.Store(true)
	notify(5_000_013, 0)
	if got := c.called.Load(); got != 0 {
		t.Errorf("once statuses are kept, noted %#x, want nothing", got)
	}
	sp.statusKept.Store(false)
	notify(5_000_013, 0)
	if got := c.called.Load(); got != exitCalled {
		t.Errorf("exit(0) noted %#x, want %#x", got, exitCalled)
	}
}

// TestNoteSignal: a signal about to be relayed is noted as its process's
// status where it would end it (the kernel's default action, neither
// caught, ignored nor blocked), SIGKILL always; not a signal the process
// ignores or catches, nor one whose default is to be ignored; the first
// that ends it stays; nothing once the kernel keeps statuses.
func TestNoteSignal(t *testing.T) {
	start := func(script string, ready func(procfs.Status) bool) (int, *tracked) {
		cmd := exec.Command("/bin/sh", "-c", script)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		pid := cmd.Process.Pid
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		for i := 0; ; i++ {
			if st, err := procfs.ReadStatus(pid); err == nil && ready(st) {
				break
			}
			if i == 500 {
				t.Fatalf("sh -c %q: not ready after 5 s", script)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return fd, &tracked{nodePID: pid}
	}
	bit := func(sig syscall.Signal) uint64 { return 1 << (sig - 1) }
	plain := func(procfs.Status) bool { return true }
	sp := &space{}

	fd, tr := start(`exec sleep 100`, plain)
	sp.noteSignal(uintptr(fd), tr, syscall.SIGCONT) // default: ignored
	if got := tr.signalled.Load(); got != 0 {
		t.Errorf("SIGCONT noted as %d", got)
	}
	sp.noteSignal(uintptr(fd), tr, syscall.SIGTERM)
	sp.noteSignal(uintptr(fd), tr, syscall.SIGUSR1)
	if got := syscall.Signal(tr.signalled.Load()); got != syscall.SIGTERM {
		t.Errorf("SIGTERM then SIGUSR1 to a plain sleep noted %v, want SIGTERM", got)
	}

	fd, tr = start(`trap '' TERM; exec sleep 100`, func(st procfs.Status) bool { return st.SigIgn&bit(syscall.SIGTERM) != 0 })
	sp.noteSignal(uintptr(fd), tr, syscall.SIGTERM)
	if got := tr.signalled.Load(); got != 0 {
		t.Errorf("SIGTERM to a process ignoring it noted as %d", got)
	}
	sp.noteSignal(uintptr(fd), tr, syscall.SIGKILL)
	if got := syscall.Signal(tr.signalled.Load()); got != syscall.SIGKILL {
		t.Errorf("SIGKILL noted %v", got)
	}

	fd, tr = start(`trap 'echo' USR1; while :; do sleep 1; done`, func(st procfs.Status) bool { return st.SigCgt&bit(syscall.SIGUSR1) != 0 })
	sp.noteSignal(uintptr(fd), tr, syscall.SIGUSR1)
	if got := tr.signalled.Load(); got != 0 {
		t.Errorf("SIGUSR1 to a process catching it noted as %d", got)
	}

	fd, tr = start(`exec sleep 100`, plain)
	sp.statusKept.Store(true)
	sp.noteSignal(uintptr(fd), tr, syscall.SIGTERM)
	if got := tr.signalled.Load(); got != 0 {
		t.Errorf("once statuses are kept, noted %d", got)
	}
}
