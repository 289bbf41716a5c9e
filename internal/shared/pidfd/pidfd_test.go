package pidfd

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestParentAndReaped: a child's parent comes from its pidfd, and from
// /proc alike; it is not reaped while a zombie, and is once waited for,
// when Parent fails rather than name another process's.
func TestParentAndReaped(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "exit 3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		cmd.Wait()
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if pp, err := Parent(fd, pid); err != nil || pp != os.Getpid() {
		t.Errorf("Parent(child) = %d, %v; want %d", pp, err, os.Getpid())
	}
	if Reaped(fd) {
		t.Error("Reaped(child) before its wait")
	}
	cmd.Wait()
	if !Reaped(fd) {
		t.Error("not Reaped(child) after its wait")
	}
	if pp, err := Parent(fd, pid); err == nil {
		t.Errorf("Parent(reaped child) = %d, want an error", pp)
	}
	if _, err := Info(-1, unix.PIDFD_INFO_PID); err == nil || NoInfo(err) {
		t.Errorf("Info(-1) = %v, want EBADF, not taken for an old kernel", err)
	}
}
