package ghost

import (
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDrainsAfterFailedWrite: a ghost whose write to its master fails
// (the master closed its end as soon as it had told the ghost how to die)
// still reads what the master wrote before, and dies as told. The ghost
// is held by ptrace at its relay of a signal, the moment the race needs:
// it saw the signal, not yet the command. Before, the failed write made it
// look for the next master at once, and with no grace it died of SIGKILL
// in place of its process's status. The master closes a descendant's
// connection so (ghost.ForkedDrains, no lingering).
func TestDrainsAfterFailedWrite(t *testing.T) {
	ln := listen(t)
	a := start(t, attr{Argv: []string{"a"}, Socket: ln.Addr().String(), Token: newToken(t)})
	ca, _ := accept(t, ln)

	held := make(chan error, 1)
	let := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		// Every ptrace request on this thread: the tracer is a thread.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		done <- holdAtSend(a.pid, held, let)
	}()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	// The ghost is in its sendmsg of the signal: the master says how to
	// die and closes its end before that write is done.
	if err := WriteExit(ca, 7); err != nil {
		t.Fatal(err)
	}
	ca.Close()
	close(let)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ws := a.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 7 {
		t.Errorf("ghost ended with %v (signal %v), want exit 7, as told before its write failed", ws, ws.Signal())
	}
}

// holdAtSend traces pid, sends it SIGUSR1, and holds it at the entry of
// the sendmsg that relays it: held says so (or why not); once let is
// closed the ghost is let go.
func holdAtSend(pid int, held chan<- error, let <-chan struct{}) error {
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, unix.PTRACE_O_TRACESYSGOOD, 0, 0); e != 0 {
		held <- e
		return nil
	}
	fail := func(err error) error {
		unix.PtraceDetach(pid)
		held <- err
		return nil
	}
	if err := unix.PtraceInterrupt(pid); err != nil {
		return fail(err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, unix.WALL, nil); err != nil || !ws.Stopped() {
		return fail(err)
	}
	if err := unix.PtraceSyscall(pid, 0); err != nil {
		return fail(err)
	}
	syscall.Kill(pid, syscall.SIGUSR1)
	for {
		if _, err := syscall.Wait4(pid, &ws, unix.WALL, nil); err != nil || !ws.Stopped() {
			held <- err
			return nil
		}
		sig := 0
		if ws.StopSignal() == syscall.SIGTRAP|0x80 {
			var regs unix.PtraceRegs
			if err := unix.PtraceGetRegs(pid, &regs); err != nil {
				return fail(err)
			}
			if regs.Orig_rax == unix.SYS_SENDMSG {
				break
			}
		} else if ws.TrapCause() == -1 {
			sig = int(ws.StopSignal())
		}
		if err := unix.PtraceSyscall(pid, sig); err != nil {
			return fail(err)
		}
	}
	held <- nil
	<-let
	return unix.PtraceDetach(pid)
}

// TestForkShort: a CmdFork without its token (ForkShort, for a ghost that
// said ForkedDrains) is read whole in one read, and the next command is
// read as such. An older ghost would take the next 16 bytes for the
// token.
func TestForkShort(t *testing.T) {
	ln := listen(t)
	a := start(t, attr{Argv: []string{"a"}, Socket: ln.Addr().String(), Token: newToken(t)})
	ca, _ := accept(t, ln)
	_, cb := forkGhost(t, ca, a.pid)
	if err := WriteFork(ca, Token{}, true); err != nil {
		t.Fatal(err)
	}
	pid, fds := readForked(t, ca)
	for _, fd := range fds {
		unix.Close(fd)
	}
	if pid <= 0 || len(fds) != 1 {
		t.Fatalf("EventForked of a short CmdFork: PID %d with %d fds, want a PID and 1 fd", pid, len(fds))
	}
	WriteExit(cb, 0)
	WriteExit(ca, 9)
	if ws := a.wait(t, 0); !ws.Exited() || ws.ExitStatus() != 9 {
		t.Errorf("ghost ended with %v, want exit 9: the command after a short CmdFork", ws)
	}
}
