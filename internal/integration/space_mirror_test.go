package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// cmdlineOf is a process's argv on this machine (the master), NUL-ended.
func cmdlineOf(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return string(b)
}

// TestSpaceExec: a ghost shows its process's argv, kept current when the
// process execs: the job's own process (sh, then exec sleep) and a
// descendant (sh's child, which execs sleep).
func TestSpaceExec(t *testing.T) {
	spaceOn(t)
	c := startCluster(t, 1)
	j := startSpaceJob(t, c, `sleep 303 & echo $$ $!; exec sleep 300`)
	// Ghost PIDs: a node PID may differ where its number was taken.
	p := ghostsOf(t, c, pids(t, j.line(t))...)
	sh, child := p[0], p[1]
	for _, w := range []struct {
		pid  int
		argv string
	}{{sh, "sleep\x00300\x00"}, {child, "sleep\x00303\x00"}} {
		waitFor(t, fmt.Sprintf("ghost %d showing %q (shows %q)", w.pid, w.argv, cmdlineOf(w.pid)),
			func() bool { return cmdlineOf(w.pid) == w.argv })
	}
	// What ps shows, and the ghost is still the process's: same parent,
	// signals still reach the process.
	if _, err := exec.LookPath("ps"); err == nil {
		out, err := exec.Command("ps", "-o", "args=", "-p", fmt.Sprint(sh)).Output()
		if err != nil || strings.TrimSpace(string(out)) != "sleep 300" {
			t.Errorf("ps of the job's ghost: %q (%v), want sleep 300", out, err)
		}
	}
	// So does the master's table (bpstat -p).
	procs, err := c.client().Procs()
	if err != nil {
		t.Fatal(err)
	}
	args := map[int]string{}
	for _, pr := range procs {
		args[pr.PID] = strings.Join(pr.Argv, " ")
	}
	if args[sh] != "sleep 300" || args[child] != "sleep 303" {
		t.Errorf("the master's table: %v, want %d: sleep 300, %d: sleep 303", args, sh, child)
	}
	if ppid(child) != sh {
		t.Errorf("the child's ghost %d: parent %d, want %d", child, ppid(child), sh)
	}
	// The child ends a zombie (its parent is sleep now), which keeps its
	// ghost; once its parent ends too, the node reaps it.
	exitChild := ghostExit(t, child)
	syscall.Kill(child, syscall.SIGTERM)
	syscall.Kill(sh, syscall.SIGTERM)
	if ws := exitChild(); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("the child's ghost: %#x, want killed by SIGTERM", uint32(ws))
	}
	if err := j.cmd.Wait(); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("bpsh: %v, want its process terminated", err)
	}
	c.waitNoProcs()
}

// TestSpaceGroups: a process that makes a session of its own (setsid)
// or a process group of its own (sh's job control) on the node takes its
// ghost along, and its children's ghosts with it; kill -- -PGID on the
// master reaches that whole group on the node, and nothing else.
func TestSpaceGroups(t *testing.T) {
	spaceOn(t)
	c := startCluster(t, 1)

	t.Run("setsid", func(t *testing.T) {
		// The group's ghosts relay the signal each on its own, so the
		// sleeps may die before the new session's shell hears it: that
		// shell then goes on into a sleep of its own (exec: the same
		// process), which its SIGTERM ends, rather than exit 0 first.
		j := startSpaceJob(t, c, `echo $$; setsid sh -c 'sleep 301 & A=$!; sleep 302 & echo $$ $A $!; wait; exec sleep 30'; echo S=$?`)
		// Ghost PIDs (a node PID may differ where its number was taken);
		// a group's ghost is its leader's ghost's.
		outer := ghostsOf(t, c, pids(t, j.line(t))[0])[0]
		p := ghostsOf(t, c, pids(t, j.line(t))...)
		s, a, b := p[0], p[1], p[2]
		waitFor(t, fmt.Sprintf("ghost %d a session leader", s), func() bool { sid, _ := unix.Getsid(s); return sid == s })
		for _, d := range []int{a, b} {
			waitFor(t, fmt.Sprintf("ghost %d in group %d", d, s), func() bool { g, _ := unix.Getpgid(d); return g == s })
		}
		if sid, _ := unix.Getsid(outer); sid == s {
			t.Fatalf("the job's ghost %d went into the new session too", outer)
		}
		exits := []func() syscall.WaitStatus{ghostExit(t, a), ghostExit(t, b)}
		if err := syscall.Kill(-s, syscall.SIGTERM); err != nil {
			t.Fatalf("kill -- -%d: %v", s, err)
		}
		for i, e := range exits {
			if ws := e(); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
				t.Errorf("sleep %d's ghost: %#x, want killed by SIGTERM (its process was)", i, uint32(ws))
			}
		}
		if l := j.line(t); l != "S=143" {
			t.Errorf("the job's shell saw %q, want S=143 (the new session's shell killed)", l)
		}
		if err := j.cmd.Wait(); err != nil {
			t.Errorf("bpsh: %v (the job's own shell is outside the group)", err)
		}
		c.waitNoProcs()
	})

	// A group of its own, a child in it, and a child that its parent
	// puts in a group of the child's own, as a shell's job control does.
	t.Run("setpgid", func(t *testing.T) {
		j := startSpaceJob(t, c, `python3 -c '
import os, time
os.setpgid(0, 0)
k1 = os.fork()
if k1 == 0:
    time.sleep(300)
    os._exit(0)
k2 = os.fork()
if k2 == 0:
    time.sleep(300)
    os._exit(0)
os.setpgid(k2, k2)
print(os.getpid(), k1, k2, flush=True)
os.waitpid(k1, 0)
time.sleep(300)'; echo P=$?`)
		p := ghostsOf(t, c, pids(t, j.line(t))...)
		py, k1, k2 := p[0], p[1], p[2]
		for _, w := range [][2]int{{py, py}, {k1, py}, {k2, k2}} {
			waitFor(t, fmt.Sprintf("ghost %d in group %d", w[0], w[1]), func() bool { g, _ := unix.Getpgid(w[0]); return g == w[1] })
		}
		exits := []func() syscall.WaitStatus{ghostExit(t, py), ghostExit(t, k1)}
		if err := syscall.Kill(-py, syscall.SIGTERM); err != nil {
			t.Fatalf("kill -- -%d: %v", py, err)
		}
		for i, e := range exits {
			if ws := e(); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
				t.Errorf("ghost %d of group %d: %#x, want killed by SIGTERM", p[i], py, uint32(ws))
			}
		}
		if l := j.line(t); l != "P=143" {
			t.Errorf("the shell's wait: %q, want P=143", l)
		}
		if ppid(k2) == 0 {
			t.Errorf("ghost %d of group %d is gone: the signal reached another group", k2, k2)
		}
		exitK2 := ghostExit(t, k2)
		syscall.Kill(-k2, syscall.SIGKILL)
		if ws := exitK2(); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("ghost %d: %#x, want killed by SIGKILL", k2, uint32(ws))
		}
		j.cmd.Wait()
		c.waitNoProcs()
	})
}
