package node

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUIDOf: a descendant's user is read by its pidfd: the real user ID,
// and an error once the process is reaped (nobody's then, for adopt).
func TestUIDOf(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to start a process as another user")
	}
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	pid := cmd.Process.Pid
	for _, f := range []struct {
		name string
		uid  func(pidfd, pid int) (uint32, error)
	}{{"uidOf", uidOf}, {"uidByProc", uidByProc}} {
		if uid, err := f.uid(fd, pid); err != nil || uid != 65534 {
			t.Errorf("%s(sleep as 65534) = %d, %v; want 65534", f.name, uid, err)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	for _, f := range []struct {
		name string
		uid  func(pidfd, pid int) (uint32, error)
	}{{"uidOf", uidOf}, {"uidByProc", uidByProc}} {
		// Reaped: even a process given the PID meanwhile is not taken
		// for it (here the test's own, a root's).
		if uid, err := f.uid(fd, os.Getpid()); err == nil {
			t.Errorf("%s(reaped) = %d, want an error", f.name, uid)
		}
	}
}
