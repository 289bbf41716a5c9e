package spawn

import (
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestNotify: a child started with Notify runs under the filter (its
// fork waits for the listener's answer), the listener comes back to the
// parent, and the program never holds it (its only fds are its stdio).
func TestNotify(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: Start always sets the credentials")
	}
	// Notify on fork, vfork and clone (ld nr; jeq x3; allow; notify).
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_CLONE, Jt: 3},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(sysFork), Jt: 2},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(sysVfork), Jt: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_USER_NOTIF},
	}
	socks, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(socks[0])
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	pid, pidfd, err := Start(Attr{
		Path: "/bin/sh", Argv: []string{"sh", "-c", "ls /proc/$$/fd; /bin/true"},
		Files: []int{-1, int(out.Fd()), int(out.Fd())}, Notify: prog, NotifySock: socks[1],
	})
	unix.Close(socks[1])
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(socks[0], buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	if len(msgs) != 1 {
		t.Fatalf("%d control messages, want the listener", len(msgs))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("listener: %v %v", fds, err)
	}
	l := fds[0]
	defer unix.Close(l)
	// The shell forks twice (ls, true): each waits for an answer.
	for range 2 {
		var n struct {
			id         uint64
			pid, flags uint32
			nr         int32
			arch       uint32
			ip         uint64
			args       [6]uint64
		}
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(l), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n))); e != 0 {
			t.Fatalf("NOTIF_RECV: %v", e)
		}
		if int(n.pid) != pid {
			t.Errorf("notification from %d, want the shell %d", n.pid, pid)
		}
		r := struct {
			id    uint64
			val   int64
			err   int32
			flags uint32
		}{id: n.id, flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(l), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&r))); e != 0 {
			t.Fatalf("NOTIF_SEND: %v", e)
		}
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("wait: %v %v", err, ws)
	}
	b, _ := os.ReadFile(out.Name())
	// The shell's fds: 1 and 2, no listener, no socket.
	if got := strings.Fields(string(b)); strings.Join(got, " ") != "1 2" {
		t.Errorf("the shell's fds %v, want 1 2", got)
	}
}

// TestNotifyFailedStart: a start that fails after the filter is in (here
// the exec: no such program) returns its error while no one serves the
// listener, even when the filter notifies exit_group, as the process
// space's does: the child's exit must not wait for a supervisor that
// serves the listener only after a successful start (Start waits for the
// failed child to end; the two waited for each other for good).
func TestNotifyFailedStart(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: Start always sets the credentials")
	}
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_EXIT_GROUP, Jt: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_USER_NOTIF},
	}
	socks, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(socks[0])
	defer unix.Close(socks[1])
	done := make(chan error, 1)
	go func() {
		_, _, err := Start(Attr{
			Path: "/nonexistent/program", Argv: []string{"program"},
			Files: []int{-1, -1, -1}, Notify: prog, NotifySock: socks[1],
		})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("Start of a missing program = %v, want its exec's ENOENT", err)
		}
	case <-time.After(20 * time.Second):
		// The child is blocked in a notified exit_group: the listener,
		// still in flight in socks, is closed with them, which lets it go.
		t.Fatal("Start of a missing program under the filter did not return in 20 s")
	}
}
