package vmadump

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/procfs"
)

const magic = 0x4250524f

// buildMoved compiles testdata/moved.c.
func buildMoved(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: ptrace, chosen PIDs, PR_SET_MM")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc")
	}
	// Other users must be able to map it: the rebuilding opens files as
	// the process's user.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(dir, "moved")
	if out, err := exec.Command("gcc", "-O1", "-o", bin, "testdata/moved.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return bin
}

// startMoved starts the program and waits for its "ready PID".
func startMoved(t *testing.T, bin string, mb int) (*exec.Cmd, *os.File) {
	t.Helper()
	cmd := exec.Command(bin, fmt.Sprint(mb))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close() })
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if want := fmt.Sprintf("ready %d\n", cmd.Process.Pid); line != want {
		t.Fatalf("moved said %q (%v), want %q", line, err, want)
	}
	// Let it reach its read.
	waitFor(t, func() bool { st, _ := procfs.ReadStat(cmd.Process.Pid); return st.State == 'S' })
	return cmd, nil
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMove: a process is read, ended, and rebuilt with its PID as another
// user; it finds its memory, heap, data, FPU registers and signal handler
// as they were, and it can grow its heap.
func TestMove(t *testing.T) {
	bin := buildMoved(t)
	stub, err := ghost.StubPath()
	if err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct {
		name     string
		mb       int
		uid      uint32
		copyVDSO bool
	}{{"1MB-root", 1, 0, false}, {"64MB-nobody", 64, 65534, false},
		// As on a node with another kernel: the vDSO is the image's copy.
		{"vDSO-copy", 1, 0, true}} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, _ := startMoved(t, bin, tc.mb)
			pid := cmd.Process.Pid
			began := time.Now()
			img, stopped, err := Dump(pid)
			if err != nil {
				t.Fatal(err)
			}
			dumped := time.Since(began)
			if img.Bytes() < int64(tc.mb)<<20 {
				t.Errorf("image carries %d bytes, less than the %d MB the process filled", img.Bytes(), tc.mb)
			}
			// Through the wire format.
			var wire bytes.Buffer
			if err := img.Encode(&wire); err != nil {
				t.Fatal(err)
			}
			if img, err = Decode(&wire); err != nil {
				t.Fatal(err)
			}
			if err := stopped.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()

			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			inR, inW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer inW.Close()
			ret := uint64(magic)
			began = time.Now()
			npid, err := Restore(img, Attr{
				Stub: stub, PID: pid, Uid: tc.uid, Gid: tc.uid, Groups: []uint32{tc.uid},
				Files: []int{int(inR.Fd()), int(pw.Fd()), 2}, Return: &ret, CopyVDSO: tc.copyVDSO,
			})
			restored := time.Since(began)
			pw.Close()
			inR.Close()
			if err != nil {
				if npid > 0 {
					reap(npid)
				}
				t.Fatal(err)
			}
			out, _ := bufio.NewReader(pr).ReadString('\n')
			// What ps and /proc show of it: its argv and its program.
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", npid)); string(b) != bin+"\x00"+fmt.Sprint(tc.mb)+"\x00" {
				t.Errorf("cmdline of the rebuilt process: %q", b)
			}
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", npid)); exe != bin {
				t.Errorf("exe of the rebuilt process: %q, want %q", exe, bin)
			}
			inW.Close()
			ws := reap(npid)
			t.Logf("%d MB image (%d bytes): dump %v, restore %v", tc.mb, img.Bytes(), dumped.Round(time.Microsecond), restored.Round(time.Microsecond))
			if want := fmt.Sprintf("moved %d uid %d ok\n", pid, tc.uid); out != want || ws.ExitStatus() != 42 {
				t.Errorf("rebuilt process said %q and ended %v; want %q and exit 42", out, describe(ws), want)
			}
		})
	}
}

// TestThreadsRefused: a process with two threads is not read.
func TestThreadsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	// This test process has several threads (Go's).
	_, _, err := Dump(os.Getpid())
	if !errors.Is(err, ErrThreads) {
		t.Errorf("Dump of a threaded process: %v, want ErrThreads", err)
	}
}

func reap(pid int) unix.WaitStatus {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, unix.WALL, nil)
		if !errors.Is(err, unix.EINTR) {
			return ws
		}
	}
}

func describe(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit %d", ws.ExitStatus())
}

// TestRestoreOpensAsTheUser: the rebuilding opens the process's files as
// its user, so a program that user may not read is not mapped for them.
func TestRestoreOpensAsTheUser(t *testing.T) {
	bin := buildMoved(t)
	stub, err := ghost.StubPath()
	if err != nil {
		t.Skip(err)
	}
	private := t.TempDir()
	os.Chmod(private, 0o700) // root's alone
	secret := filepath.Join(private, "moved")
	if err := os.Rename(bin, secret); err != nil {
		t.Fatal(err)
	}
	cmd, _ := startMoved(t, secret, 1)
	img, stopped, err := Dump(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	stopped.Kill()
	pid, err := Restore(img, Attr{Stub: stub, Uid: 65534, Gid: 65534, Files: []int{0, 1, 2}})
	if pid > 0 {
		reap(pid)
	}
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Restore as nobody of a program only root may read: %v, want permission denied", err)
	}
}
