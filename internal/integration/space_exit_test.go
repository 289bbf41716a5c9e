package integration

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// TestSpaceExitSIGCHLDIgnored: the children of a parent that ignores
// SIGCHLD on the node are reaped by the kernel the moment they end; each
// that ends at once after its fork still gives its ghost its own status,
// not SIGKILL (which it got when it ended before the node held it).
func TestSpaceExitSIGCHLDIgnored(t *testing.T) { testSpaceExitIgnored(t, "") }

// TestSpaceExitLastThread: the same, each child ending by the exit
// system call of its one thread rather than exit_group: its end is its
// process's, and its ghost gets its status (it got SIGKILL when only
// exit_group was notified).
func TestSpaceExitLastThread(t *testing.T) { testSpaceExitIgnored(t, "exit") }

// TestSpaceExitIgnoredRestarted: the same, the parent interrupted by a
// caught SIGALRM every 200 µs, so that the kernel restarts some of its
// forks while the node traces them (space_hold.go): each restarted fork
// keeps its one ghost, and no phantom's ghost ends by SIGKILL.
func TestSpaceExitIgnoredRestarted(t *testing.T) { testSpaceExitIgnored(t, "alarm") }

func testSpaceExitIgnored(t *testing.T, mode string) {
	spaceOn(t)
	c := startCluster(t, 1, "--no-diskless")
	exits := spaceExits(t, c)
	const n = 60
	// (dash's trap '' CHLD does not ignore it for the kernel.)
	j, inW := startHeldJob(t, c, fmt.Sprintf("exec %s %d %s", testProgram(t, "sigign"), n, mode))
	// sigign stays until its stdin ends.
	p := pids(t, j.line(t))[0]
	pGhost := ghostsOf(t, c, p)[0]
	got := exits(pGhost, func(by map[int]int) bool { return by[7]+by[-1] >= n })
	if got[7] != n || got[-1] != 0 {
		t.Errorf("children of a parent ignoring SIGCHLD: %d ghosts ended with their status 7 and %d by a signal, want %d and 0", got[7], got[-1], n)
	}
	inW.Close()
	j.cmd.Wait()
	c.waitNoProcs()
}

// TestSpaceSignalSIGCHLDIgnored: children of a parent that ignores
// SIGCHLD, each ended by a signal the moment it is forked (its own raise,
// or its parent's kill as the fork returns), give their ghosts that
// signal: the node holds each before it runs. Before, the kernel reaped
// one that ended before the node held its pidfd, and its ghost died of
// SIGKILL.
func TestSpaceSignalSIGCHLDIgnored(t *testing.T) { testSpaceSignalReaped(t, "") }

// TestSpaceSignalNoCldWait: the same with a parent that catches SIGCHLD
// with a handler and SA_NOCLDWAIT, which makes the kernel reap its
// children as if it ignored SIGCHLD, though /proc does not show it: the
// node learns it from the parent's rt_sigaction. Before, 12 and 15 of
// 60 ghosts had not ended after 60 s (each lost child held the node's
// forks for childWait, 5 s, before its ghost got SIGKILL).
func TestSpaceSignalNoCldWait(t *testing.T) { testSpaceSignalReaped(t, "nocldwait") }

func testSpaceSignalReaped(t *testing.T, how string) {
	spaceOn(t)
	c := startCluster(t, 1, "--no-diskless")
	evs := make(chan localapi.ClusterEvent, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	streamDone := make(chan error, 1)
	go func() {
		streamDone <- c.client().Events(ctx, func(ev localapi.ClusterEvent) error {
			if ev.Kind == localapi.EventExit {
				evs <- ev
			}
			return nil
		})
	}()
	defer func() { cancel(); <-streamDone }()
	const n = 60
	j, inW := startHeldJob(t, c, fmt.Sprintf("exec %s %d signal %s", testProgram(t, "sigign"), n, how))
	p := pids(t, j.line(t))[0]
	pGhost := ghostsOf(t, c, p)[0]
	by := map[string]int{}
	for timeout, k := time.After(60*time.Second), 0; k < n; {
		select {
		case ev := <-evs:
			if ev.PID == pGhost {
				continue
			}
			k++
			switch {
			case ev.Status == nil:
				by["none"]++
			case ev.Status.Signal != 0:
				by[syscall.Signal(ev.Status.Signal).String()]++
			default:
				by[fmt.Sprint("code ", ev.Status.Code)]++
			}
		case <-timeout:
			t.Errorf("after 60 s, %d of %d children's ghosts ended", k, n)
			k = n
		}
	}
	if want := syscall.SIGUSR1.String(); by[want] != n {
		t.Errorf("children's ghosts ended so: %v, want %s: %d", by, want, n)
	}
	inW.Close()
	j.cmd.Wait()
	c.waitNoProcs()
}

// TestSpaceLostChild: a fork whose child's PID was taken on the node (so
// the child is found among its parent's children, not at its ghost's
// PID) and whose parent exits at once: the child, left to the node's
// init, keeps its ghost and its status reaches it.
func TestSpaceLostChild(t *testing.T) {
	spaceOn(t)
	if _, err := os.Stat("/usr/bin/nsenter"); err != nil {
		t.Skip("needs nsenter (util-linux)")
	}
	c := startCluster(t, 1, "--no-diskless")
	slave := c.nodePID(t, 0)
	exits := spaceExits(t, c)
	const n = 20
	// Each subshell forks one child, which outlives it, and exits.
	j, inW := startHeldJob(t, c, fmt.Sprintf(`echo $$; read go; for i in $(seq %d); do (sh -c 'sleep 1; exit 6' &) ; done; echo forked; read x`, n))
	sh := pids(t, j.line(t))[0]
	shGhost := ghostsOf(t, c, sh)[0]
	release := holdNodePIDs(t, slave, 4000)
	defer release()
	fmt.Fprintln(inW, "go")
	if l := j.line(t); l != "forked" {
		t.Fatalf("the shell said %q", l)
	}
	// Each of n: the subshell (0), its child sh (6) and that one's sleep
	// (0); and seq (0).
	got := exits(shGhost, func(by map[int]int) bool { return by[6]+by[-1] >= n && by[0] >= 2*n+1 })
	if got[6] != n || got[0] != 2*n+1 || len(got) != 2 {
		t.Errorf("descendants ended so (code: how many, -1 by a signal): %v, want 6: %d and 0: %d", got, n, 2*n+1)
	}
	inW.Close()
	j.cmd.Wait()
	c.waitNoProcs()
}
