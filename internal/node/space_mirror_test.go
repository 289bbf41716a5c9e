package node

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		stat      string
		pgid, sid int
		wantErr   bool
	}{
		{"12 (sh) S 1 12 7 0 -1", 12, 7, false},
		{"12 (a) b (c) ) R 1 30 40 0", 30, 40, false},
		{"12 (sh) S 1", 0, 0, true},
		{"12 sh S 1 2 3", 0, 0, true},
		{"12 (sh) S 1 x 3", 0, 0, true},
		{"12 (sh) S 1 2 y", 0, 0, true},
	} {
		st, err := parseStat([]byte(c.stat))
		if (err != nil) != c.wantErr || st.pgid != c.pgid || st.sid != c.sid {
			t.Errorf("%q: %+v %v, want %d %d (error %v)", c.stat, st, err, c.pgid, c.sid, c.wantErr)
		}
	}
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseStat(b)
	if err != nil || st.pgid != getpgrp() || st.sid != getsid() {
		t.Errorf("own stat: %+v %v, want %d %d", st, err, getpgrp(), getsid())
	}
	// The argument area is where /proc/self/cmdline's bytes are.
	if st.threads < 2 || st.args[0] == 0 || st.args[1] <= st.args[0] || st.args[3] <= st.args[2] {
		t.Errorf("own stat: argument area %#x", st.args)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("12 (sh) S 1 12 7 0 -1"))
	f.Add([]byte("1 ()) R 0 0 0"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := parseStat(b); err != nil && err.Error() == "" {
			t.Fatal("an empty error")
		}
	})
}

func getpgrp() int { p, _ := unix.Getpgid(0); return p }
func getsid() int  { s, _ := unix.Getsid(0); return s }

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
