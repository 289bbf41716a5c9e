package spawn

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/procfs"
)

// The checks that need a PID namespace of their own run in a copy of the
// test binary re-executed as its PID 1: only there are small PIDs free and
// orphans ours. helperEnv names the check; childEnv makes the binary play a
// spawned child instead.
const (
	helperEnv = "SPAWN_TEST_HELPER"
	childEnv  = "SPAWN_TEST_CHILD"
)

// checks run one per namespace, each as PID 1.
var checks = map[string]func(t *testing.T){
	"ChosenPID":   checkChosenPID,
	"ExecErrors":  checkExecErrors,
	"Credentials": checkCredentials,
	"Dir":         checkDir,
	"Root":        checkRoot,
	"Files":       checkFiles,
	"Session":     checkSession,
	"Signals":     checkSignals,
	"Pdeathsig":   checkPdeathsig,
	"EPERM":       checkEPERM,
	"Statuses":    checkStatuses,
	"PIDTaken":    checkPIDTaken,
	"AwaitExit":   checkAwaitExit,
	"Orphan":      checkOrphan,
	"Concurrent":  checkConcurrent,
	"Close":       checkClose,
}

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "pdeathsig":
		var sig int32
		if err := unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&sig)), 0, 0, 0); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println(sig)
	case "eperm":
		_, _, err := Start(Attr{Path: "/bin/true", PID: 3000})
		fmt.Println(err)
	}
	os.Exit(0)
}

// TestInPIDNamespace runs every check in a helper that is PID 1 of a new
// PID and mount namespace. Killing the helper kills all it started, and its
// mounts go with its mount namespace, also when a check fails.
func TestInPIDNamespace(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: CLONE_NEWPID and clone3 set_tid")
	}
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelper$", "-test.v", "-test.timeout=100s")
			cmd.Env = append(os.Environ(), helperEnv+"="+name)
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS,
				Pdeathsig:  syscall.SIGKILL,
			}
			out, err := cmd.CombinedOutput()
			if bytes.Contains(out, []byte("--- SKIP: TestHelper (")) {
				t.Skipf("helper skipped:\n%s", out)
			}
			if err != nil || !bytes.Contains(out, []byte("--- PASS: TestHelper")) {
				t.Fatalf("helper %s: %v\n%s", name, err, out)
			}
			if testing.Verbose() {
				t.Logf("helper output:\n%s", out)
			}
		})
	}
}

// TestHelper is the re-executed PID 1; it does nothing in a normal run.
func TestHelper(t *testing.T) {
	name := os.Getenv(helperEnv)
	if name == "" {
		t.Skip("runs only re-executed by TestInPIDNamespace")
	}
	if pid := os.Getpid(); pid != 1 {
		t.Fatalf("helper pid = %d, want 1", pid)
	}
	// Private mounts first: a /proc mounted on a shared / would show on
	// the machine. The new /proc shows this PID namespace.
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make / private: %v", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Fatalf("mount /proc: %v", err)
	}
	// RLIMIT_CORE 1 stops core dumps to files and to pipes alike, so a
	// SIGSEGV status carries no core flag whatever core_pattern says.
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 1, Max: 1}); err != nil {
		t.Fatalf("RLIMIT_CORE: %v", err)
	}
	check, ok := checks[name]
	if !ok {
		t.Fatalf("no check %q", name)
	}
	check(t)
}

// TestAttrRejected needs neither root nor a namespace: nothing is cloned.
func TestAttrRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    Attr
		want string
	}{
		{"relative path", Attr{Path: "bin/true"}, "not absolute"},
		{"negative pid", Attr{Path: "/bin/true", PID: -1}, "out of range"},
		{"huge pid", Attr{Path: "/bin/true", PID: 1 << 40}, "out of range"},
		{"setctty without setsid", Attr{Path: "/bin/true", Setctty: true, Files: []int{0}}, "needs Setsid"},
		{"setctty without fd 0", Attr{Path: "/bin/true", Setsid: true, Setctty: true}, "terminal as Files[0]"},
		{"nul in argv", Attr{Path: "/bin/true", Argv: []string{"a\x00b"}}, "argv"},
		{"nul in env", Attr{Path: "/bin/true", Env: []string{"A=\x00"}}, "env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pid, pidfd, err := Start(tc.a)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start(%+v) = %d, %d, %v; want error with %q", tc.a, pid, pidfd, err, tc.want)
			}
		})
	}
}

// starter starts a process and returns a function that waits for its end.
type starter func(t *testing.T, a Attr) (pid int, wait func() unix.WaitStatus, err error)

// eachStarter runs f with Start and then with a Reaper's Start, one after
// the other: Start's wait4 for a PID must not race with a Reaper's.
func eachStarter(t *testing.T, f func(t *testing.T, start starter, r *Reaper)) {
	t.Run("Start", func(t *testing.T) {
		f(t, plainStart, nil)
	})
	t.Run("Reaper", func(t *testing.T) {
		r := NewReaper()
		defer r.Close()
		f(t, reaperStart(r), r)
	})
}

func plainStart(t *testing.T, a Attr) (int, func() unix.WaitStatus, error) {
	pid, pidfd, err := Start(a)
	if err != nil {
		return 0, nil, err
	}
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		t.Errorf("pidfd of %d: %v", pid, err)
	}
	return pid, func() unix.WaitStatus {
		defer unix.Close(pidfd)
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, unix.WALL, nil)
			if err == nil {
				return ws
			}
			if err != unix.EINTR {
				t.Fatalf("wait4(%d): %v", pid, err)
			}
		}
	}, nil
}

func reaperStart(r *Reaper) starter {
	return func(t *testing.T, a Attr) (int, func() unix.WaitStatus, error) {
		pid, done, err := r.Start(a)
		if err != nil {
			return 0, nil, err
		}
		return pid, func() unix.WaitStatus { return waitDone(t, pid, done) }, nil
	}
}

func waitDone(t *testing.T, pid int, done <-chan unix.WaitStatus) unix.WaitStatus {
	t.Helper()
	select {
	case ws, ok := <-done:
		if !ok {
			t.Fatalf("pid %d: done closed without a status", pid)
		}
		return ws
	case <-time.After(30 * time.Second):
		t.Fatalf("pid %d: no status after 30s", pid)
		return 0
	}
}

// output runs a with /dev/null as stdin and a pipe as stdout and stderr,
// and returns its PID, its status and what it wrote.
func output(t *testing.T, start starter, a Attr) (int, unix.WaitStatus, string) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	a.Files = []int{devNull(t), int(pw.Fd()), int(pw.Fd())}
	pid, wait, err := start(t, a)
	if err != nil {
		t.Fatalf("start %v: %v", a.Argv, err)
	}
	pw.Close()
	out, err := io.ReadAll(pr)
	if err != nil {
		t.Fatal(err)
	}
	return pid, wait(), string(out)
}

func devNull(t *testing.T) int {
	t.Helper()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

func sh(script string) Attr {
	return Attr{Path: "/bin/sh", Argv: []string{"sh", "-c", script}}
}

// zombies lists this process's zombie children: with a Reaper (a
// subreaper), also its children's orphans. Not every zombie of the
// machine: other packages' tests run beside this one.
func zombies(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var z []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := procfs.ReadStat(pid)
		if err == nil && st.State == 'Z' && st.PPid == os.Getpid() { // else gone meanwhile
			z = append(z, e.Name())
		}
	}
	return z
}

// noZombies fails unless this process has no zombie children: with
// Start, wait4 finds none; with a Reaper, /proc shows none.
func noZombies(t *testing.T, r *Reaper) {
	t.Helper()
	if r == nil {
		var ws unix.WaitStatus
		if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil); err != unix.ECHILD {
			t.Errorf("wait4(-1, WNOHANG) = %d, %v; want ECHILD (a child left behind)", pid, err)
		}
		return
	}
	if z := zombies(t); len(z) > 0 {
		t.Errorf("zombies: %v", z)
	}
}

// pidfds counts this process's open pidfds.
func pidfds(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if l, _ := os.Readlink("/proc/self/fd/" + fd.Name()); l == "anon_inode:[pidfd]" {
			n++
		}
	}
	return n
}

func wantStatus(t *testing.T, what string, got, want unix.WaitStatus) {
	t.Helper()
	if got != want {
		t.Errorf("%s: status = %#x (%s), want %#x (%s)", what, uint32(got), describe(got), uint32(want), describe(want))
	}
}

func describe(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("signal %v, core %v", ws.Signal(), ws.CoreDump())
	}
	return "other"
}

func exited(code int) unix.WaitStatus           { return unix.WaitStatus(code << 8) }
func killed(sig syscall.Signal) unix.WaitStatus { return unix.WaitStatus(sig) }
