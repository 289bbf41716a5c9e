package integration

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTTY: bpsh -T runs the remote command under a pseudo-terminal of the
// node, with the caller's window size, and a resize reaching it.
func TestTTY(t *testing.T) {
	c := startCluster(t, 1)
	ptm, pts := openPTY(t)
	if err := unix.IoctlSetWinsize(int(ptm.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatal(err)
	}
	// The remote shell reports its tty and size, then again after the
	// window changed (SIGWINCH), then ends.
	script := `tty; stty size; trap 'stty size; exit 5' WINCH; echo waiting; while :; do sleep 0.05; done`
	cmd := c.command("bpsh", "-T", "0", "sh", "-c", script)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	var out bytes.Buffer
	readUntil(t, ptm, &out, "waiting")
	if !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "40 100") {
		t.Fatalf("remote tty and size: %q, want a /dev/pts name and 40 100", out.String())
	}
	if err := unix.IoctlSetWinsize(int(ptm.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 20, Col: 60}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ptm, &out, "20 60")
	if err := cmd.Wait(); exitCode(err) != 5 {
		t.Errorf("bpsh -T: %v, want exit 5", err)
	}
}

// openPTY opens a pseudo-terminal pair with /dev/ptmx.
func openPTY(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	// Through Control, not Fd: Fd would make m blocking, and readUntil's
	// deadline would never end a read that waits for text that never comes.
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ierr error
	rc.Control(func(fd uintptr) {
		if ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ierr == nil {
			n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	})
	if ierr != nil {
		t.Fatal(ierr)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// readUntil reads the terminal until out holds want, for at most 10 s.
func readUntil(t *testing.T, f *os.File, out *bytes.Buffer, want string) {
	t.Helper()
	f.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1024)
	for !strings.Contains(out.String(), want) {
		n, err := f.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			t.Fatalf("reading the terminal for %q: %v; got %q", want, err, out.String())
		}
	}
}
