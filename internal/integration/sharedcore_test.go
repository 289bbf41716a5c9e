package integration

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSharedCoreDump checks what the kernel does to a process that shares
// its address space with one that dies of a core-dumping signal, as a
// job's ghosts share theirs (ghost.Group). Before Linux 5.16 a core dump
// killed every process of the address space (zap_threads); since, only
// the dumping thread group. A ghost clears the dumpable flag before it
// dies, so no dump even starts; both cases must leave the other process
// alive here.
func TestSharedCoreDump(t *testing.T) {
	prog := testProgram(t, "sharedcore")
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(unix.RLIMIT_CORE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max == 0 {
		t.Skip("RLIMIT_CORE hard limit 0: no core dump can happen")
	}
	raised := rl
	raised.Cur = rl.Max
	if err := syscall.Setrlimit(unix.RLIMIT_CORE, &raised); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(unix.RLIMIT_CORE, &rl)
	pattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")

	for _, tc := range []struct {
		arg  string
		core bool // WCOREDUMP expected
	}{{"dumpable", true}, {"undumpable", false}} {
		t.Run(tc.arg, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(prog, tc.arg)
			cmd.Dir = dir
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			other, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("sharedcore printed %q, want a PID", line)
			}
			defer killGone(t, other)
			cmd.Wait()
			ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != syscall.SIGQUIT || ws.CoreDump() != tc.core {
				t.Errorf("sharedcore %s: wait status %#x, want killed by SIGQUIT, core dumped %v (core_pattern %q)",
					tc.arg, uint32(ws), tc.core, pattern)
			}
			time.Sleep(100 * time.Millisecond) // a zap would have happened by now
			if s := procState(other); s == "" || s == "Z" || s == "X" {
				t.Errorf("sharedcore %s: the process sharing its memory is %q after the core dump, want it alive", tc.arg, s)
			}
			if ents, _ := os.ReadDir(dir); !tc.core && len(ents) > 0 {
				t.Errorf("undumpable: files %v in its cwd, want no core", ents)
			}
		})
	}
}

// killGone kills pid, an orphan now (its parent died), and waits until it
// is gone: reaped by this process if it is the subreaper, else by init.
func killGone(t *testing.T, pid int) {
	syscall.Kill(pid, syscall.SIGKILL)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := syscall.Wait4(pid, nil, syscall.WNOHANG, nil); errors.Is(err, syscall.ECHILD) {
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
				return
			}
		}
	}
	t.Errorf("process %d still there 10 s after SIGKILL", pid)
}
