package node

import (
	"os/exec"
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

// TestNoteExit: an exit call's code is noted for a descendant held under
// its ghost's PID, exit(0) too, until the kernel has shown it keeps
// statuses; not for a thread's ID, nor a descendant at another PID.
func TestNoteExit(t *testing.T) {
	sp := &space{tracked: make(map[int]*tracked)}
	held := func(pid, nodePID int) *tracked {
		tr := &tracked{ready: make(chan struct{}), pidfd: 100, nodePID: nodePID}
		close(tr.ready)
		sp.tracked[pid] = tr
		return tr
	}
	a, b, c := held(10, 10), held(11, 12), held(13, 13)
	notify := func(pid uint32, code uint64) {
		sp.noteExit(&seccompNotif{pid: pid, nr: unix.SYS_EXIT_GROUP, args: [6]uint64{code}})
	}
	notify(10, 0x107) // only the low byte is a status
	notify(11, 3)     // a ghost whose process has another PID
	notify(12, 3)     // that process, by its node PID: unknown
	notify(99, 3)     // not a descendant
	if got := a.called.Load(); got != exitCalled|7<<8 {
		t.Errorf("exit_group(0x107) noted %#x, want %#x", got, exitCalled|7<<8)
	}
	if got := b.called.Load(); got != 0 {
		t.Errorf("descendant at another PID noted %#x, want nothing", got)
	}
	sp.statusKept.Store(true)
	notify(13, 0)
	if got := c.called.Load(); got != 0 {
		t.Errorf("once statuses are kept, noted %#x, want nothing", got)
	}
	sp.statusKept.Store(false)
	notify(13, 0)
	if got := c.called.Load(); got != exitCalled {
		t.Errorf("exit(0) noted %#x, want %#x", got, exitCalled)
	}
}
