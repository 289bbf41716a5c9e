package integration

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStdinSocketReleased: a blocking socket as bpsh's stdin and stdout
// (pdsh's exec module hands its commands one end of a socketpair) is let
// go by the master when the process ends, so the caller's end reads EOF
// once bpsh has exited. The master's copy of stdin used to sit in a
// read() on the socket that the end of the process could not interrupt,
// holding the socket, and the caller waited for EOF forever.
func TestStdinSocketReleased(t *testing.T) {
	c := startCluster(t, 1)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Ours non-blocking, for a read deadline; bpsh's end stays blocking,
	// as pdsh's is.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs")
	defer ours.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fds[1], &st); err != nil {
		t.Fatal(err)
	}
	cmd := c.command("bpsh", "0", "hostname")
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = theirs, theirs, &syncBuffer{}
	startReaped(t, cmd)
	theirs.Close()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("bpsh 0 hostname: %v, stderr %q", err, stderrOf(cmd))
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("bpsh 0 hostname with a socket as stdin has not ended after 20 s")
	}

	// bpsh has ended: whatever holds the other end of the pair now is
	// the master, and it must let go of it.
	out, err := readToEOF(ours, 5*time.Second)
	if err != nil {
		t.Errorf("our end of the socketpair after bpsh exited: %v (got %q): the master holds its end", err, out)
	}
	if out == "" {
		t.Errorf("no output from hostname on the socket")
	}
	if fd := holding(c.master.Process.Pid, st.Ino); fd != "" {
		t.Errorf("bpmaster still holds the socket as %s after bpsh exited", fd)
	}
}

// TestPdshExec: pdsh's exec module runs bpsh per host with a socketpair
// as its stdin and stdout; pdsh ends once every one has.
func TestPdshExec(t *testing.T) {
	pdsh, err := exec.LookPath("pdsh")
	if err != nil {
		t.Skip("no pdsh (Debian package pdsh)")
	}
	c := startCluster(t, 2)
	cmd := exec.Command(pdsh, "-R", "exec", "-w", "0,1", binary, "bpsh", "%h", "hostname")
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "BPROC_SOCKET="+c.socket)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	startReaped(t, cmd)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("pdsh -R exec bpsh: %v, stderr %q", err, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("pdsh -R exec -w 0,1 bpsh %%h hostname has not ended after 20 s; output so far %q", out.String())
	}
	for _, host := range []string{"0: ", "1: "} {
		if !strings.Contains(out.String(), host) {
			t.Errorf("pdsh output %q has no line from host %s", out.String(), host)
		}
	}
}

// readToEOF reads f until EOF, failing after timeout.
func readToEOF(f *os.File, timeout time.Duration) (string, error) {
	f.SetReadDeadline(time.Now().Add(timeout))
	var out bytes.Buffer
	buf := make([]byte, 512)
	for {
		n, err := f.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			if err == io.EOF {
				return out.String(), nil
			}
			return out.String(), err
		}
	}
}

// holding names pid's descriptor of the socket with inode ino, or "".
func holding(pid int, ino uint64) string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	want := fmt.Sprintf("socket:[%d]", ino)
	for _, e := range ents {
		if l, _ := os.Readlink(dir + "/" + e.Name()); l == want {
			return dir + "/" + e.Name()
		}
	}
	return ""
}
