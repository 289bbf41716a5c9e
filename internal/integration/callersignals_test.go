package integration

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// TestDeathSignal: with one process, bpsh dies of the signal that killed
// it (a parent's wait sees WIFSIGNALED, Python's returncode -15; shells
// still print 143); with several, it exits 128+signal as before.
func TestDeathSignal(t *testing.T) {
	c := startCluster(t, 2)
	one := c.command("bpsh", "0", "sh", "-c", "kill -TERM $$")
	one.Dir = "/"
	err := one.Run()
	ws, _ := one.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM || ws.CoreDump() {
		t.Errorf("bpsh 0 (killed by SIGTERM): %v, want bpsh killed by SIGTERM, no core", err)
	}
	two := c.command("bpsh", "0,1", "sh", "-c", "kill -TERM $$")
	two.Dir = "/"
	err = two.Run()
	if ws, _ := two.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() || ws.ExitStatus() != 143 {
		t.Errorf("bpsh 0,1 (both killed by SIGTERM): %v, want exit 143", err)
	}
	// A core-dumping signal: the same signal, and no core of bpsh.
	quit := c.command("bpsh", "0", "sh", "-c", "kill -QUIT $$")
	quit.Dir = "/"
	err = quit.Run()
	if ws, _ := quit.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGQUIT || ws.CoreDump() {
		t.Errorf("bpsh 0 (killed by SIGQUIT): %v, want bpsh killed by SIGQUIT, no core", err)
	}
}

// TestSignalToBpshAlone: SIGINT sent to bpsh alone (not by a terminal to
// its process group) reaches the process: Python's Popen.send_signal ends
// the job, with returncode -2 (bpsh dies as its one process did), and
// timeout -s INT 2 ends bpsh after 2 s. bpsh used to swallow every
// SIGINT, taking it for the terminal's.
func TestSignalToBpshAlone(t *testing.T) {
	c := startCluster(t, 1)
	py := exec.Command("/usr/bin/python3", "-c", `
import signal, subprocess, sys, time
p = subprocess.Popen(sys.argv[1:])
time.sleep(1.5)
p.send_signal(signal.SIGINT)
try:
    print(p.wait(timeout=10))
except subprocess.TimeoutExpired:
    p.kill()
    print("timeout")
`, binary, "bpsh", "0", "sleep", "30")
	py.Dir = "/"
	py.Env = append(os.Environ(), "BPROC_SOCKET="+c.socket)
	py.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no terminal: the signal is only Popen's
	out, err := py.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "-2" {
		t.Errorf("Popen([bpsh 0 sleep 30]).send_signal(SIGINT): returncode %q (%v), want -2", out, err)
	}
	c.waitNoProcs()

	began := time.Now()
	to := exec.Command("timeout", "-s", "INT", "2", binary, "bpsh", "0", "sleep", "10")
	to.Dir = "/"
	to.Env = py.Env
	err = to.Run()
	if took := time.Since(began); took > 6*time.Second {
		t.Errorf("timeout -s INT 2 bpsh 0 sleep 10: took %v (%v), want about 2 s", took, err)
	}
	c.waitNoProcs()
}

// TestTerminalSignalOnce: each SIGINT reaches the remote process once,
// whoever sends it, while bpsh is in its terminal's foreground process
// group: ^C on the terminal (which signals bpsh and its ghosts alike),
// kill to bpsh (which bpsh used to drop, taking it for the terminal's),
// and kill to the ghost.
func TestTerminalSignalOnce(t *testing.T) {
	c := startCluster(t, 1)
	ptm, pts := openPTY(t)
	script := `n=0; trap 'n=$((n+1)); echo got$n.' INT; trap 'echo "end$n;"; exit 0' TERM; echo ready; while :; do sleep 0.1; done`
	cmd := c.command("bpsh", "0", "sh", "-c", script)
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	startReaped(t, cmd)
	pts.Close()
	var out bytes.Buffer
	readUntil(t, ptm, &out, "ready")
	ghosts := children(cmd.Process.Pid)
	if len(ghosts) != 1 {
		t.Fatalf("bpsh 0: ghosts %v, want one", ghosts)
	}
	ptm.Write([]byte{3}) // ^C: VINTR
	readUntil(t, ptm, &out, "got1.")
	cmd.Process.Signal(syscall.SIGINT)
	readUntil(t, ptm, &out, "got2.")
	syscall.Kill(ghosts[0], syscall.SIGINT)
	readUntil(t, ptm, &out, "got3.")
	time.Sleep(500 * time.Millisecond) // room for a copy too many
	syscall.Kill(ghosts[0], syscall.SIGTERM)
	readUntil(t, ptm, &out, ";")
	if !strings.Contains(out.String(), "end3;") {
		t.Errorf("^C, kill -INT bpsh, kill -INT ghost: the remote trap did not count 3; terminal: %q", out.String())
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("bpsh: %v", err)
	}
}

// TestBpshKilledEndsProcesses: bpsh killed by SIGKILL takes its remote
// processes with it (as an ssh session's end with its client), and their
// ghosts with them. They used to run on, their ghosts orphaned.
func TestBpshKilledEndsProcesses(t *testing.T) {
	c := startCluster(t, 2)
	cmd := c.startBpsh(t, "0,1", "sleep", "60")
	var ghosts []int
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs, _ := c.client().Procs()
		ghosts = children(cmd.Process.Pid)
		if len(procs) == 2 && len(ghosts) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bpsh 0,1 sleep 60: %d remote processes, ghosts %v after 10 s", len(procs), ghosts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Process.Wait() // not cmd.Wait: that waits for the ghosts' end of the stderr pipe too
	deadline = time.Now().Add(5 * time.Second)
	for {
		procs, _ := c.client().Procs()
		alive := 0
		for _, g := range ghosts {
			if running(g) {
				alive++
			}
		}
		if len(procs) == 0 && alive == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, g := range ghosts {
				syscall.Kill(g, syscall.SIGKILL)
			}
			t.Fatalf("5 s after bpsh was killed: %d remote processes, %d of its ghosts %v alive", len(procs), alive, ghosts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// running says whether pid is a process that has not exited (a zombie
// waiting for its reaper has).
func running(pid int) bool {
	st, err := procfs.ReadStat(pid)
	return err == nil && st.State != 'Z'
}
