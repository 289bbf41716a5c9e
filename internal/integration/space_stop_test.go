package integration

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// TestSpaceStopDescendant: SIGSTOP sent to a descendant's ghost stops its
// process on the node, and SIGCONT continues it. A ghost cannot relay a
// SIGSTOP (it cannot be caught): its parent ghost sees it stopped and
// tells the master.
func TestSpaceStopDescendant(t *testing.T) {
	spaceOn(t)
	c := startCluster(t, 1)
	// The loop forks nothing: a fork would wait for its stopped ghost,
	// which would stop the loop whether its SIGSTOP came or not.
	j := startSpaceJob(t, c, `sh -c 'i=0; while :; do i=$((i+1)); [ $((i%500)) -eq 0 ] && echo $i > /tmp/count; done' & C=$!
		echo $$ $C; wait $C; echo C=$?`)
	loop := ghostsOf(t, c, pids(t, j.line(t))...)[1]
	count := func() int {
		n, _ := strconv.Atoi(strings.TrimSpace(c.run("", "bpsh", "0", "cat", "/tmp/count").stdout))
		return n
	}
	waitFor(t, "the remote loop counting", func() bool { return count() > 0 })

	if err := syscall.Kill(loop, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var stood int
	waitFor(t, "the remote loop stopped", func() bool {
		a := count()
		time.Sleep(300 * time.Millisecond)
		stood = count()
		return a == stood
	})
	time.Sleep(time.Second)
	if n := count(); n != stood {
		t.Fatalf("the remote loop counts on (%d, then %d) while its ghost is stopped", stood, n)
	}

	if err := syscall.Kill(loop, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the remote loop counting again", func() bool { return count() > stood })
	syscall.Kill(loop, syscall.SIGTERM)
	if l := j.line(t); l != "C=143" {
		t.Errorf("the shell's wait for the loop: %q, want C=143", l)
	}
}

// TestSpaceStoppedGhostForks: a descendant whose ghost was stopped on the
// master (SIGSTOP) and which was continued on its node directly (kill
// -CONT there) forks: its fork works (it failed with EAGAIN after 5 s,
// waiting for the stopped ghost to fork the child's ghost). The master
// continues the ghost for the fork and stops it again, neither passed on
// to the process, which runs on; the ghost ends with its status once
// continued.
func TestSpaceStoppedGhostForks(t *testing.T) {
	spaceOn(t)
	c := startCluster(t, 1, "--no-diskless")
	// (An asynchronous list's stdin is /dev/null: the inner shell reads fd 3.)
	j, inW := startHeldJob(t, c, `exec 3<&0; sh -c 'echo $$; read x; sh -c "exit 3"; echo inner=$?' <&3 & wait $!; echo D=$?`)
	d := pids(t, j.line(t))[0]
	g := ghostsOf(t, c, d)[0]
	end := ghostExit(t, g)
	state := func() string {
		out := c.run("", "bpsh", "0", "cat", "/proc/"+strconv.Itoa(d)+"/stat").stdout
		if st, err := procfs.ParseStat([]byte(out)); err == nil {
			return string(st.State)
		}
		return "?"
	}
	if err := syscall.Kill(g, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the descendant stopped on its node", func() bool { return state() == "T" })
	c.run("", "bpsh", "0", "sh", "-c", "kill -CONT "+strconv.Itoa(d))
	waitFor(t, "the descendant continued on its node", func() bool { return state() != "T" })
	if !ghostStoppedHere(g) {
		t.Fatalf("ghost %d is not stopped: the test shows nothing", g)
	}
	began := time.Now()
	fmt.Fprintln(inW, "go")
	if l := j.line(t); l != "inner=3" {
		t.Errorf("the fork of the descendant continued on its node: %q, want inner=3", l)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("the fork took %v: it waited for the stopped ghost", took)
	}
	if l := j.line(t); l != "D=0" {
		t.Errorf("the shell's wait for the descendant: %q, want D=0", l)
	}
	if !ghostStoppedHere(g) {
		t.Errorf("ghost %d runs after the fork: it was stopped, and must stay so", g)
	}
	syscall.Kill(g, syscall.SIGCONT)
	if ws := end(); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("ghost %d of the descendant: %v, want exit 0", g, ws)
	}
	inW.Close()
	j.cmd.Wait()
	c.waitNoProcs()
}

// ghostStoppedHere: pid, a ghost on this machine, is stopped.
func ghostStoppedHere(pid int) bool {
	st, err := procfs.ReadStat(pid)
	return err == nil && st.Stopped()
}

// TestSpaceStoppedGhostUserCont: a user's SIGCONT to a stopped ghost
// that comes while the master has continued it for a fork of its
// process is the user's: the ghost stays continued (it was stopped again
// with the master's own, the SIGCONT taken for the master's). The test
// sends it as soon as the ghost runs and has read the master's SIGCONT
// (a second one sent before that merges with it in the kernel).
func TestSpaceStoppedGhostUserCont(t *testing.T) {
	spaceOn(t)
	c := startCluster(t, 1, "--no-diskless")
	j, inW := startHeldJob(t, c, `exec 3<&0; sh -c 'echo $$; while read x; do sh -c "exit 3"; echo inner=$?; done' <&3 & wait $!; echo D=$?`)
	d := pids(t, j.line(t))[0]
	g := ghostsOf(t, c, d)[0]
	nodeState := func() string {
		out := c.run("", "bpsh", "0", "cat", "/proc/"+strconv.Itoa(d)+"/stat").stdout
		if st, err := procfs.ParseStat([]byte(out)); err == nil {
			return string(st.State)
		}
		return "?"
	}
	const rounds = 6
	kept, missed := 0, 0
	for r := 0; r < rounds; r++ {
		if err := syscall.Kill(g, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the descendant stopped on its node", func() bool { return nodeState() == "T" })
		c.run("", "bpsh", "0", "sh", "-c", "kill -CONT "+strconv.Itoa(d))
		waitFor(t, "the descendant continued on its node", func() bool { return nodeState() != "T" })
		if !ghostStoppedHere(g) {
			t.Fatalf("ghost %d is not stopped: the test shows nothing", g)
		}
		fmt.Fprintln(inW, "go")
		// The master continues the ghost for the fork 20 ms on: send
		// the user's SIGCONT the moment it runs with no SIGCONT pending.
		// The window may be too short to be seen: the round then shows
		// nothing.
		deadline := time.Now().Add(10 * time.Second)
		line := ""
		for line == "" && (ghostStoppedHere(g) || contPending(g)) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the fork not done in 10 s", r)
			}
			select {
			case line = <-j.lines:
			default:
				time.Sleep(20 * time.Microsecond)
			}
		}
		if line != "" {
			if line != "inner=3" {
				t.Fatalf("round %d: the fork: %q, want inner=3", r, line)
			}
			missed++
			syscall.Kill(g, syscall.SIGCONT)
			time.Sleep(300 * time.Millisecond)
			continue
		}
		syscall.Kill(g, syscall.SIGCONT)
		if l := j.line(t); l != "inner=3" {
			t.Fatalf("round %d: the fork: %q, want inner=3", r, l)
		}
		// stopAgain's time, had it stopped; and more than the master
		// waits for news of a stop of its own, which a SIGCONT may have
		// undone before it was told (quietStopFor).
		time.Sleep(300 * time.Millisecond)
		if ghostStoppedHere(g) {
			t.Errorf("round %d: ghost %d stopped again after its user's SIGCONT", r, g)
			syscall.Kill(g, syscall.SIGCONT)
		} else {
			kept++
		}
	}
	t.Logf("%d of %d rounds: the ghost stayed continued; %d missed the window", kept, rounds, missed)
	if missed == rounds {
		t.Errorf("every round missed the fork's window: the test showed nothing")
	}
	inW.Close()
	if l := j.line(t); l != "D=0" {
		t.Errorf("the shell's wait for the descendant: %q, want D=0", l)
	}
	j.cmd.Wait()
	c.waitNoProcs()
}

// contPending: SIGCONT is pending for pid (ShdPnd: sent to the process).
func contPending(pid int) bool {
	st, err := procfs.ReadStatus(pid)
	return err == nil && st.ShdPnd&(1<<(syscall.SIGCONT-1)) != 0
}
