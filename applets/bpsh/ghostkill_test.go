package bpsh

import (
	"bufio"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/localapi/localapitest"
)

// sleeper starts sleep 30 as a child, standing in for a ghost, and
// returns a channel that gets how it ended.
func sleeper(t *testing.T) (int, <-chan *exec.Cmd) {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	done := make(chan *exec.Cmd, 1)
	go func() {
		cmd.Wait()
		done <- cmd
	}()
	return cmd.Process.Pid, done
}

// endedBy is the signal that ended the sleeper, 0 for none, or -1 if it
// still runs after within.
func endedBy(t *testing.T, done <-chan *exec.Cmd, within time.Duration) syscall.Signal {
	t.Helper()
	select {
	case cmd := <-done:
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() {
			return 0
		}
		return ws.Signal()
	case <-time.After(within):
		return -1
	}
}

// TestSignalGhostUnknownToMaster: a signal for a ghost the master does
// not know yet (it has not read the ghost's hello: bpsh signalled as it
// starts) goes to the ghost itself, which relays it once the master
// watches it. bpsh used to drop it: 5 of 80 SIGINTs sent 0-40 ms after
// bpsh 0 sleep 30 started were lost.
func TestSignalGhostUnknownToMaster(t *testing.T) {
	unknown := localapi.Reply{Error: "signal 1: Invalid process ID", Code: localapi.CodeInvalidProcess}
	r := &runner{client: &apiclient.Client{Socket: localapitest.Master(t, func(localapi.Request) localapi.Reply { return unknown })}}
	pid, done := sleeper(t)
	r.signalRemote([]int{pid}, syscall.SIGTERM)
	if got := endedBy(t, done, 5*time.Second); got != syscall.SIGTERM {
		t.Errorf("ghost the master did not know: ended by %d (-1: still running 5 s later), want SIGTERM", got)
	}

	// The master took it: the ghost is not sent a second copy.
	r = &runner{client: &apiclient.Client{Socket: localapitest.Master(t, func(localapi.Request) localapi.Reply { return localapi.Reply{} })}}
	pid, done = sleeper(t)
	r.signalRemote([]int{pid}, syscall.SIGTERM)
	if got := endedBy(t, done, 300*time.Millisecond); got != -1 {
		t.Errorf("ghost the master signalled: ended by %d here too, want left to the master", got)
	}
}

// TestKillGhostOnlyChildren: a PID that is not bpsh's child (its ghost
// was reaped, and the number is another process's) is not signalled.
func TestKillGhostOnlyChildren(t *testing.T) {
	sh := exec.Command("sh", "-c", "sleep 30 & echo $!; wait")
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	grandchild, _ := strconv.Atoi(strings.TrimSpace(line))
	t.Cleanup(func() {
		if grandchild > 0 {
			syscall.Kill(grandchild, syscall.SIGKILL)
		}
		sh.Process.Kill()
		sh.Wait()
	})
	if err != nil || grandchild <= 0 {
		t.Fatalf("sh: %q, %v", line, err)
	}
	killGhost(grandchild, syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	if err := syscall.Kill(grandchild, 0); err != nil {
		t.Errorf("killGhost(a grandchild): it is gone (%v), want it left alone", err)
	}
}
