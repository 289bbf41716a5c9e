package integration

import (
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSpaceForkGhostHeld: a fork on a node is answered while the new
// ghost has not run at all. The parent ghost hands the master the new
// ghost's connection (a socket pair made before its fork) with its PID,
// so the master needs nothing of the new ghost: the test holds it
// stopped from its birth (ptrace, which stops a traced ghost's children
// as they are made) and the fork's child runs on its node all the same.
// (The master waited for the new ghost's hello, and the fork failed with
// EAGAIN.) Let go, the ghost takes up its connection and ends with its
// process.
func TestSpaceForkGhostHeld(t *testing.T) {
	spaceOn(t)
	c := startCluster(t, 1)
	j, inW := startHeldJob(t, c, `echo $$; read x; sh -c 'echo $$; read y; exit 4'; echo inner=$?`)
	g := ghostsOf(t, c, pids(t, j.line(t))[0])[0]

	held, release := holdForkedGhost(t, g)
	fmt.Fprintln(inW, "go")
	var child int
	select {
	case child = <-held:
	case <-time.After(20 * time.Second):
		t.Fatalf("ghost %d forked no child ghost in 20 s", g)
	}
	defer release()
	l := j.line(t)
	nodePID, err := strconv.Atoi(l)
	if err != nil {
		t.Fatalf("the fork's child on the node: %q, want its PID: the fork waited for its held ghost %d", l, child)
	}
	if got := ghostsOf(t, c, nodePID)[0]; got != child {
		t.Errorf("node PID %d has ghost %d, want the held one, %d", nodePID, got, child)
	}
	if st := procState(child); st != "t" {
		t.Errorf("ghost %d in state %q, want t (held by the test): the test shows nothing", child, st)
	}
	end := ghostExit(t, child)
	release()
	fmt.Fprintln(inW, "y")
	if l := j.line(t); l != "inner=4" {
		t.Errorf("the shell's fork: %q, want inner=4", l)
	}
	if ws := end(); !ws.Exited() || ws.ExitStatus() != 4 {
		t.Errorf("ghost %d of the fork's child: %v, want exit 4", child, ws)
	}
	inW.Close()
	j.cmd.Wait()
	c.waitNoProcs()
}

// holdForkedGhost traces ghost g so that the next child ghost it makes
// stays stopped from its birth until release; held says its PID. release
// detaches both. The tracing thread goes back to Go's pool once clean:
// ending it would kill what the test started from it (Pdeathsig).
func holdForkedGhost(t *testing.T, g int) (held <-chan int, release func()) {
	t.Helper()
	h := make(chan int, 1)
	done, over := make(chan struct{}), make(chan struct{})
	seized := make(chan error, 1)
	go func() {
		defer close(over)
		// Every ptrace request on this thread: the tracer is a thread.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		const opts = unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACECLONE
		if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(g), 0, opts, 0, 0); e != 0 {
			seized <- fmt.Errorf("ptrace seize ghost %d: %w", g, e)
			return
		}
		seized <- nil
		// wait is g's next stop, nil once g is gone or done closed.
		wait := func() *syscall.WaitStatus {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(g, &ws, unix.WALL|syscall.WNOHANG, nil)
				switch {
				case err != nil || pid == g && !ws.Stopped():
					return nil
				case pid == g:
					return &ws
				}
				select {
				case <-done:
					return nil
				case <-time.After(2 * time.Millisecond):
				}
			}
		}
		child := 0
		for child == 0 {
			ws := wait()
			if ws == nil {
				break
			}
			sig := 0
			switch ws.TrapCause() {
			case unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_CLONE:
				msg, _ := unix.PtraceGetEventMsg(g)
				child = int(msg)
				var cws syscall.WaitStatus
				syscall.Wait4(child, &cws, unix.WALL, nil) // its first stop
				h <- child
			case -1:
				sig = int(ws.StopSignal())
			}
			unix.PtraceCont(g, sig)
		}
		<-done
		if child > 0 {
			unix.PtraceDetach(child)
		}
		// g runs: it is detached once stopped.
		if unix.PtraceInterrupt(g) == nil {
			for {
				var ws syscall.WaitStatus
				if _, err := syscall.Wait4(g, &ws, unix.WALL, nil); err != nil || !ws.Stopped() {
					return
				}
				if ws.TrapCause() == -1 && ws.StopSignal() != syscall.SIGTRAP {
					unix.PtraceCont(g, int(ws.StopSignal())) // a signal's: delivered, not held
					continue
				}
				unix.PtraceDetach(g)
				return
			}
		}
	}()
	if err := <-seized; err != nil {
		t.Fatal(err)
	}
	var once bool
	release = func() {
		if once {
			return
		}
		once = true
		close(done)
		<-over
	}
	t.Cleanup(release)
	return h, release
}
