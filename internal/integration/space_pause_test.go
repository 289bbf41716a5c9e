package integration

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSpacePauseKeepsDescendants: a master paused (SIGSTOP) past the ping
// timeout, then continued, loses none of what a remote shell forked. The
// node keeps the descendants as it keeps the shell, the master keeps
// their ghosts waiting and takes them back: a background sleep's ghost is
// still in the table, a signal to it reaches it, and a child that ended
// while the master was away gives its ghost its own exit status.
func TestSpacePauseKeepsDescendants(t *testing.T) {
	spaceOn(t)
	c := startCluster(t, 1, "--no-diskless", "--node-grace", "60s")
	// The subshell ends with 7 while the master is away; the sleep runs
	// on until its ghost's signal; the shell says what its wait saw.
	j := startSpaceJob(t, c, `sleep 100 & s=$!; (sleep 3; exit 7) & e=$!; echo $s $e; wait $e; echo e=$?; wait $s; echo s=$?`)
	defer j.cmd.Process.Kill()
	ps := pids(t, j.line(t))
	g := ghostsOf(t, c, ps...)
	sleepEnd, subEnd := ghostExit(t, g[0]), ghostExit(t, g[1])
	pauseMaster(t, c, 5*time.Second) // pingtimeout 2s; the subshell ends meanwhile
	if l := j.line(t); l != "e=7" {
		t.Errorf("the shell's wait for the subshell: %q, want e=7", l)
	}
	if ws := subEnd(); !ws.Exited() || ws.ExitStatus() != 7 {
		t.Errorf("ghost %d of the subshell that ended while the master was away: %v, want exit 7", g[1], ws)
	}
	// The sleep's ghost is still in the table, and its signal reaches it.
	procs, err := c.client().Procs()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range procs {
		if p.PID == g[0] {
			found = true
			if strings.Join(p.Argv, " ") != "sleep 100" {
				t.Errorf("ghost %d after the pause: argv %q, want sleep 100", g[0], p.Argv)
			}
		}
	}
	if !found {
		t.Errorf("the background sleep's ghost %d is not in the master's table after the pause: %+v", g[0], procs)
	}
	if err := syscall.Kill(g[0], syscall.SIGTERM); err != nil {
		t.Errorf("signal the sleep's ghost %d: %v", g[0], err)
	}
	if l := j.line(t); l != "s=143" {
		t.Errorf("the shell's wait for the sleep signalled through its ghost: %q, want s=143 (SIGTERM)", l)
	}
	if ws := sleepEnd(); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("ghost %d of the signalled sleep: %v, want killed by SIGTERM", g[0], ws)
	}
	if err := waitCmd(j.cmd, 20*time.Second); err != nil {
		t.Errorf("bpsh of the shell: %v", err)
	}
	c.waitLog(t, regexp.MustCompile(`remote process taken back`))
	if strings.Contains(c.log.String(), "Slave node died") {
		t.Errorf("a process was reported dead:\n%s", c.log.String())
	}
	c.waitNoProcs()
}

// TestSpaceRestartKeepsDescendants: a master killed (SIGKILL) and started
// again loses none of what a remote shell forked: the descendant's ghost
// comes back to the new master (a resume hello), which takes its
// process back from the node. The descendant forks again under the new
// master (its child gets a ghost, with its own status), its signal
// reaches it, and its status reaches its ghost.
func TestSpaceRestartKeepsDescendants(t *testing.T) {
	spaceOn(t)
	c, _ := startWithSlaves(t, 1, "--no-diskless", "--node-grace", "60s")
	// The background shell waits on a FIFO in the node's /tmp for the
	// new master; a job of the new master's writes it.
	fifo := fmt.Sprintf("/tmp/go-%d", time.Now().UnixNano())
	bg := fmt.Sprintf(`read x < %s; sh -c "exit 9"; echo inner=$?; exec sleep 100`, fifo)
	j := startSpaceJob(t, c, fmt.Sprintf(`mkfifo %s || exit 1; sh -c '%s' & s=$!; echo $s; wait $s; echo s=$?; exit 5`, fifo, bg))
	defer j.cmd.Process.Kill()
	ps := pids(t, j.line(t))
	g := ghostsOf(t, c, ps...)
	bgEnd := ghostExit(t, g[0])
	waitStarted(t, c, 2)
	killRestart(t, c, time.Second)
	waitFor(t, "the background shell's ghost back in the new master's table", func() bool {
		procs, err := c.client().Procs()
		for _, p := range procs {
			if p.PID == g[0] && p.NodePID == ps[0] {
				return err == nil
			}
		}
		return false
	})
	c.waitLog(t, regexp.MustCompile(`remote process recovered after the master restarted" pid=`+strconv.Itoa(g[0])))
	exits := spaceExits(t, c)
	release := c.command("bpsh", "0", "sh", "-c", "echo go > "+fifo)
	if out, err := release.CombinedOutput(); err != nil {
		t.Fatalf("release the background shell through %s on node 0: %v %s", fifo, err, out)
	}
	if l := j.line(t); l != "inner=9" {
		t.Errorf("the fork of the taken-back shell: %q, want inner=9", l)
	}
	// The release job's shell ends with 0 too.
	if got := exits(g[0], func(by map[int]int) bool { return by[9] > 0 }); got[9] != 1 || got[-1] != 0 {
		t.Errorf("ghost of the fork under the new master ended so (code: how many, -1 by a signal): %v, want 9: 1 (and the release's 0)", got)
	}
	if err := syscall.Kill(g[0], syscall.SIGTERM); err != nil {
		t.Errorf("signal the background ghost %d: %v", g[0], err)
	}
	if l := j.line(t); l != "s=143" {
		t.Errorf("the shell's wait for its child signalled through its ghost: %q, want s=143 (SIGTERM)", l)
	}
	if ws := bgEnd(); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("ghost %d of the signalled child: %v, want killed by SIGTERM", g[0], ws)
	}
	err := waitCmd(j.cmd, 20*time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
		t.Errorf("bpsh of the shell: %v, want exit status 5", err)
	}
	if strings.Contains(c.log.String(), "Slave node died") || strings.Contains(c.log.String(), "remote process lost") {
		t.Errorf("a process was lost:\n%s", c.log.String())
	}
}

// TestSpacePausePastGraceDescendants: descendants kept through a lost
// master are ended once the grace time is over, as launched processes
// are: their ghosts die of SIGKILL and nothing is left in the table.
func TestSpacePausePastGraceDescendants(t *testing.T) {
	spaceOn(t)
	c := startCluster(t, 1, "--no-diskless", "--node-grace", "2s")
	j := startSpaceJob(t, c, `sleep 60 & echo $!; wait`)
	defer j.cmd.Process.Kill()
	g := ghostsOf(t, c, pids(t, j.line(t))...)
	end := ghostExit(t, g[0])
	pauseMaster(t, c, 8*time.Second) // 2 s to give the master up, 2 s of grace, the rest past it
	if ws := end(); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("ghost %d of a descendant past the grace time: %v, want killed by SIGKILL", g[0], ws)
	}
	waitCmd(j.cmd, 20*time.Second)
	c.waitNoProcs()
}

// TestSpaceRestartDescendantMirrored: a descendant taken back by a
// restarted master is a descendant again (its parent's ghost says so):
// its setsid after the restart is mirrored onto its ghost, which was
// not when the new master took it for a job of its own.
func TestSpaceRestartDescendantMirrored(t *testing.T) {
	spaceOn(t)
	c, _ := startWithSlaves(t, 1, "--no-diskless", "--node-grace", "60s")
	fifo := fmt.Sprintf("/tmp/go-%d", time.Now().UnixNano())
	// The background shell is not its group's leader: setsid(1) calls
	// setsid in it, without a fork.
	bg := fmt.Sprintf(`read x < %s; exec setsid sleep 100`, fifo)
	j := startSpaceJob(t, c, fmt.Sprintf(`mkfifo %s || exit 1; sh -c '%s' & s=$!; echo $s; wait $s; echo s=$?`, fifo, bg))
	defer j.cmd.Process.Kill()
	ps := pids(t, j.line(t))
	g := ghostsOf(t, c, ps...)
	if sid, _ := unix.Getsid(g[0]); sid == g[0] {
		t.Fatalf("ghost %d leads its session before the setsid: the test shows nothing", g[0])
	}
	bgEnd := ghostExit(t, g[0])
	waitStarted(t, c, 2)
	killRestart(t, c, time.Second)
	c.waitLog(t, regexp.MustCompile(`remote process recovered after the master restarted" pid=`+strconv.Itoa(g[0])))
	release := c.command("bpsh", "0", "sh", "-c", "echo go > "+fifo)
	if out, err := release.CombinedOutput(); err != nil {
		t.Fatalf("release the background shell through %s on node 0: %v %s", fifo, err, out)
	}
	sid, err := unix.Getsid(g[0])
	for deadline := time.Now().Add(10 * time.Second); (err != nil || sid != g[0]) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		sid, err = unix.Getsid(g[0])
	}
	if err != nil || sid != g[0] {
		t.Errorf("ghost %d of a descendant that made a session of its own after the restart: session %d (%v), want %d", g[0], sid, err, g[0])
	}
	if err := syscall.Kill(g[0], syscall.SIGTERM); err != nil {
		t.Errorf("signal the background ghost %d: %v", g[0], err)
	}
	if l := j.line(t); l != "s=143" {
		t.Errorf("the shell's wait for its child signalled through its ghost: %q, want s=143 (SIGTERM)", l)
	}
	if ws := bgEnd(); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("ghost %d: %v, want killed by SIGTERM", g[0], ws)
	}
	waitCmd(j.cmd, 20*time.Second)
}
