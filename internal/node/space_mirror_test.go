package node

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStatSigIgn: stat's sigignore, which a fork of a one-thread parent
// uses for the SIGCHLD hold, says what /proc/PID/status's SigIgn says.
func TestStatSigIgn(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		script := "exec sleep 30"
		if ignore {
			script = "trap '' CHLD; exec sleep 30"
		}
		cmd := exec.Command("/bin/bash", "-c", script) // dash does not set SIG_IGN for trap '' CHLD
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		var st procState
		var err error
		for range 200 { // until sh has exec'd sleep
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(b) == "sleep\n" {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		st, err = readProcState(pid)
		status := sigchldIgnored(pid)
		cmd.Process.Kill()
		cmd.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if stat := st.sigIgn&(1<<(unix.SIGCHLD-1)) != 0; stat != ignore || status != ignore {
			t.Errorf("%q: SIGCHLD ignored by stat %v, by status %v; want %v", script, stat, status, ignore)
		}
	}
}
