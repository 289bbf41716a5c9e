package node

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/pidfd"
)

// TestForkReadsAllocateNothing: what the process space reads of /proc at
// every fork and exit (stat, status) makes no garbage: the handler runs
// it for each of a node's forks.
func TestForkReadsAllocateNothing(t *testing.T) {
	if raceOn {
		t.Skip("the race detector's build allocates where a plain one does not")
	}
	pid := os.Getpid()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for name, f := range map[string]func(){
		"pidfd.Parent":   func() { pidfd.Parent(fd, pid) },
		"readProcState":  func() { readProcState(pid) },
		"alive":          func() { alive(pid) },
		"tgidOf":         func() { tgidOf(pid) },
		"ppidOf":         func() { ppidOf(pid) },
		"sigchldIgnored": func() { sigchldIgnored(pid) },
		"sigCaught":      func() { sigCaught(pid, syscall.SIGUSR1) },
		"parentState":    func() { parentState(pid) },
	} {
		if n := testing.AllocsPerRun(50, f); n != 0 {
			t.Errorf("%s(self): %v allocations a call, want 0", name, n)
		}
	}
}

// TestSigchldIgnoredManyGroups: a process with many supplementary groups
// has its signal masks past the first 2 kB of /proc/PID/status; they are
// read all the same (a read cut there found no SigIgn line, and took a
// SIGCHLD ignored for one not ignored).
func TestSigchldIgnoredManyGroups(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("setting groups wants root")
	}
	groups := make([]uint32, 1000)
	for i := range groups {
		groups[i] = 100000 + uint32(i)
	}
	cmd := exec.Command("/bin/bash", "-c", "trap '' CHLD; exec sleep 30") // dash does not set SIG_IGN for trap '' CHLD
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Groups: groups}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	for range 200 { // until bash has exec'd sleep
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(b) == "sleep\n" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); len(b) <= 2048 {
		t.Fatalf("status of %d bytes: not past 2 kB", len(b))
	}
	if !sigchldIgnored(pid) {
		t.Error("sigchldIgnored of a process with 1000 groups = false, want true")
	}
}

// TestChildAtWithoutProc: whether a new process is the fork's child is
// asked of its pidfd (its parent, PIDFD_GET_INFO), not read from
// /proc/PID/stat: it holds with /proc hidden (a thread of its own, in a
// mount namespace of its own with an empty tmpfs there). The finder does
// it for every fork; /proc cost a file's open, read and close.
func TestChildAtWithoutProc(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: mounts in a namespace of its own")
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer child.Process.Kill()
	type result struct {
		child, other bool
		err          error
	}
	res := make(chan result, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine, and its
		// mount namespace with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			res <- result{err: fmt.Errorf("unshare: %w", err)}
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			res <- result{err: fmt.Errorf("make / private: %w", err)}
			return
		}
		if err := unix.Mount("none", "/proc", "tmpfs", 0, ""); err != nil {
			res <- result{err: fmt.Errorf("mount tmpfs on /proc: %w", err)}
			return
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", child.Process.Pid)); err == nil {
			res <- result{err: fmt.Errorf("/proc not hidden")}
			return
		}
		fc := &forkCall{parent: os.Getpid()}
		var r result
		var fd int
		if fd, r.child = fc.childAt(child.Process.Pid); r.child {
			unix.Close(fd)
		}
		if fd, r.other = fc.childAt(os.Getppid()); r.other {
			unix.Close(fd)
		}
		res <- r
	}()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !r.child {
		t.Error("childAt(our child) with /proc hidden = false, want true")
	}
	if r.other {
		t.Error("childAt(our parent) = true, want false")
	}
}
