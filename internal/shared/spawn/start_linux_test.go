package spawn

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func checkChosenPID(t *testing.T) {
	eachStarter(t, func(t *testing.T, start starter, r *Reaper) {
		for _, want := range []int{4242, 1000, 32767} {
			pid, ws, out := output(t, start, withPID(sh("echo $$"), want))
			if pid != want || out != strconv.Itoa(want)+"\n" {
				t.Errorf("Start(PID %d) = %d, child printed %q", want, pid, out)
			}
			wantStatus(t, "echo $$", ws, exited(0))
		}
		noZombies(t, r)
	})
}

func withPID(a Attr, pid int) Attr {
	a.PID = pid
	return a
}

func checkExecErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notExecutable := write("not-executable", "#!/bin/sh\n", 0o644)
	notAProgram := write("not-a-program", "\x00\x01\x02 garbage", 0o755)

	eachStarter(t, func(t *testing.T, start starter, r *Reaper) {
		for _, tc := range []struct {
			name  string
			a     Attr
			errno syscall.Errno
			step  string
		}{
			{"missing", Attr{Path: "/nonexistent/prog"}, unix.ENOENT, "execve"},
			{"not executable", Attr{Path: notExecutable}, unix.EACCES, "execve"},
			{"not a program", Attr{Path: notAProgram}, unix.ENOEXEC, "execve"},
			{"directory", Attr{Path: dir}, unix.EACCES, "execve"},
			{"missing dir", Attr{Path: "/bin/true", Dir: "/nonexistent"}, unix.ENOENT, "chdir"},
			// The test's temporary directories are 0700 root: the child is
			// nobody by the time it changes directory.
			{"dir not allowed", Attr{Path: "/bin/true", Dir: dir, Uid: 65534, Gid: 65534}, unix.EACCES, "chdir"},
			{"bad fd", Attr{Path: "/bin/true", Files: []int{0, 1, 999}}, unix.EBADF, "dup"},
			{"no ctty", Attr{Path: "/bin/true", Files: []int{devNull(t)}, Setsid: true, Setctty: true}, unix.ENOTTY, "setctty"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				pid, _, err := start(t, tc.a)
				var ce *ChildError
				if !errors.As(err, &ce) || ce.Step != tc.step || !errors.Is(err, tc.errno) ||
					!strings.Contains(err.Error(), unix.ErrnoName(tc.errno)) {
					t.Fatalf("start(%s) = %d, %v; want a %s error with %s", tc.a.Path, pid, err, tc.step, unix.ErrnoName(tc.errno))
				}
				t.Logf("start(%s): %v", tc.a.Path, err)
				noZombies(t, r)
			})
		}
		if r != nil {
			r.mu.Lock()
			n := len(r.kids)
			r.mu.Unlock()
			if n != 0 {
				t.Errorf("reaper still tracks %d children", n)
			}
		}
		if n := pidfds(t); n != 0 {
			t.Errorf("%d pidfds left open", n)
		}
	})
}

func checkCredentials(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    Attr
		want string
	}{
		{"nobody with groups", Attr{Uid: 65534, Gid: 65534, Groups: []uint32{65534, 100}}, "65534\n65534\n65534 100\n"},
		// Empty Groups still calls setgroups: root's group 0 must go.
		{"nobody without groups", Attr{Uid: 65534, Gid: 65534}, "65534\n65534\n65534\n"},
		{"mixed", Attr{Uid: 1234, Gid: 100, Groups: []uint32{7, 8}}, "1234\n100\n100 7 8\n"},
		{"root", Attr{Groups: []uint32{0}}, "0\n0\n0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := sh("id -u; id -g; id -G")
			a.Uid, a.Gid, a.Groups = tc.a.Uid, tc.a.Gid, tc.a.Groups
			_, ws, out := output(t, plainStart, a)
			if out != tc.want {
				t.Errorf("id as %d/%d/%v printed %q, want %q", a.Uid, a.Gid, a.Groups, out, tc.want)
			}
			wantStatus(t, "id", ws, exited(0))
		})
	}
}

func checkDir(t *testing.T) {
	tmp := t.TempDir()
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, want string }{
		{"/", "/"},
		{tmp, tmp},
		{"", cwd},
	} {
		a := sh("pwd")
		a.Dir = tc.dir
		if _, _, out := output(t, plainStart, a); out != tc.want+"\n" {
			t.Errorf("pwd with Dir %q printed %q, want %q", tc.dir, out, tc.want)
		}
	}
}

func checkFiles(t *testing.T) {
	pr1, pw1, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr1.Close()
	defer pw1.Close()
	pr2, pw2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr2.Close()
	defer pw2.Close()
	// Not close-on-exec, as a daemon may have inherited it: it must not
	// reach the child all the same.
	leak, err := unix.FcntlInt(uintptr(devNull(t)), unix.F_DUPFD, 50)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(leak)
	myStderr, err := os.Readlink("/proc/self/fd/2")
	if err != nil {
		t.Fatal(err)
	}

	// Files[3] and Files[4] are below their index: they must be moved out
	// of the way before 1 and 2 are dup'ed into place.
	script := `echo out; echo err >&2; readlink /proc/$$/fd/3 >&2
		for fd in 4 5 ` + strconv.Itoa(leak) + `; do [ -e /proc/$$/fd/$fd ] && echo "fd $fd open"; done; true`
	a := sh(script)
	a.Files = []int{devNull(t), int(pw1.Fd()), int(pw2.Fd()), 2, -1}
	pid, pidfd, err := Start(a)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	pw1.Close()
	pw2.Close()
	out1, err := io.ReadAll(pr1)
	if err != nil {
		t.Fatal(err)
	}
	out2, err := io.ReadAll(pr2)
	if err != nil {
		t.Fatal(err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if string(out1) != "out\n" {
		t.Errorf("child's stdout = %q, want %q", out1, "out\n")
	}
	if want := "err\n" + myStderr + "\n"; string(out2) != want {
		t.Errorf("child's stderr = %q, want %q", out2, want)
	}
	wantStatus(t, "files", ws, exited(0))
}

func checkSession(t *testing.T) {
	// Fields 6 and 7 of /proc/PID/stat: session and controlling tty.
	const script = `set -- $(cat /proc/$$/stat); echo $6 $7`
	t.Run("Setsid", func(t *testing.T) {
		a := sh(script)
		a.Setsid = true
		pid, _, out := output(t, plainStart, a)
		if want := strconv.Itoa(pid) + " 0\n"; out != want {
			t.Errorf("session and tty = %q, want %q", out, want)
		}
	})
	t.Run("no Setsid", func(t *testing.T) {
		pid, _, out := output(t, plainStart, sh(script))
		if f := strings.Fields(out); len(f) != 2 || f[0] == strconv.Itoa(pid) {
			t.Errorf("session and tty = %q, want another session than %d", out, pid)
		}
	})
	t.Run("Setctty", func(t *testing.T) {
		master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Skipf("no pty: %v", err)
		}
		m := os.NewFile(uintptr(master), "ptmx")
		defer m.Close()
		if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
			t.Fatalf("unlockpt: %v", err)
		}
		r1, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
		if errno != 0 {
			t.Fatalf("TIOCGPTPEER: %v", errno)
		}
		tty := int(r1)
		defer unix.Close(tty)
		a := sh(script)
		a.Files = []int{tty, tty, tty}
		a.Setsid, a.Setctty = true, true
		pid, pidfd, err := Start(a)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(pidfd)
		unix.Close(tty)
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			t.Fatal(err)
		}
		// The master reads EIO once the data is read and the terminal has
		// no other end left.
		out, err := io.ReadAll(m)
		if err != nil && !errors.Is(err, unix.EIO) {
			t.Fatal(err)
		}
		f := strings.Fields(string(out))
		if len(f) != 2 || f[0] != strconv.Itoa(pid) || f[1] == "0" {
			t.Errorf("session and tty = %q, want %d and a terminal", out, pid)
		}
		wantStatus(t, "setctty", ws, exited(0))
	})
}

func checkPdeathsig(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	a := Attr{Path: exe, Env: []string{childEnv + "=pdeathsig"}, Pdeathsig: syscall.SIGUSR1}
	_, ws, out := output(t, plainStart, a)
	// Only the first line: a coverage build adds a warning.
	if want := strconv.Itoa(int(syscall.SIGUSR1)) + "\n"; !strings.HasPrefix(out, want) {
		t.Errorf("child's PR_GET_PDEATHSIG printed %q, want %q", out, want)
	}
	wantStatus(t, "pdeathsig", ws, exited(0))
}

// checkEPERM has the test binary, run as nobody, ask for a PID.
func checkEPERM(t *testing.T) {
	dir, err := os.MkdirTemp("", "spawn-eperm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	copyExe := filepath.Join(dir, "spawn.test")
	if err := os.WriteFile(copyExe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	a := Attr{Path: copyExe, Env: []string{childEnv + "=eperm"}, Uid: 65534, Gid: 65534, Dir: "/"}
	_, ws, out := output(t, plainStart, a)
	for _, want := range []string{"pid 3000", "operation not permitted", "CAP_SYS_ADMIN"} {
		if !strings.Contains(out, want) {
			t.Errorf("Start(PID 3000) as nobody: %q, want it to mention %q", out, want)
		}
	}
	wantStatus(t, "eperm child", ws, exited(0))
}

// TestSetnsPID picks a PID in a namespace the process is not in, from a
// thread that setns'd into it, as a daemon outside a node could.
func TestSetnsPID(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: CLONE_NEWPID, setns and clone3 set_tid")
	}
	holder := exec.Command("/bin/sleep", "100")
	holder.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	// The holder is the namespace's PID 1: killing it kills the rest.
	defer holder.Wait()
	defer holder.Process.Kill()
	ns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/pid", holder.Process.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ns)

	type result struct {
		pid int
		ws  unix.WaitStatus
		out string
		err error
	}
	res := make(chan result)
	go func() {
		// Never unlocked: the thread, now creating children in another
		// namespace, ends with this goroutine. It waits for the child, whose
		// Pdeathsig would fire when the thread ends.
		runtime.LockOSThread()
		var r result
		defer func() { res <- r }()
		if r.err = unix.Setns(ns, unix.CLONE_NEWPID); r.err != nil {
			return
		}
		pr, pw, err := os.Pipe()
		if r.err = err; err != nil {
			return
		}
		defer pr.Close()
		a := sh("echo $$ $PPID")
		a.PID, a.Pdeathsig = 4343, syscall.SIGKILL
		a.Files = []int{int(pw.Fd()), int(pw.Fd()), int(pw.Fd())}
		pid, pidfd, err := Start(a)
		pw.Close()
		if r.err = err; err != nil {
			return
		}
		defer unix.Close(pidfd)
		b, _ := io.ReadAll(pr)
		r.pid, r.out = pid, string(b)
		_, r.err = unix.Wait4(pid, &r.ws, 0, nil)
	}()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	// Start returns the PID as the caller sees it; the child sees 4343
	// and a parent outside its namespace (0).
	if r.out != "4343 0\n" {
		t.Errorf("child in the holder's namespace printed %q, want %q", r.out, "4343 0\n")
	}
	if r.pid == 4343 || r.pid <= 0 {
		t.Errorf("Start returned pid %d, want the PID in this namespace", r.pid)
	}
	wantStatus(t, "child in the holder's namespace", r.ws, exited(0))
}

// checkSignals: the child execs with an empty mask, and what the parent
// ignores stays ignored, as with os/exec.
func checkSignals(t *testing.T) {
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	// Whatever else this process inherited as ignored (the Go runtime
	// keeps an inherited SIG_IGN for some real-time signals) is expected
	// in the child too.
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	ign := regexp.MustCompile(`(?m)^SigIgn:\t[0-9a-f]+\n`).Find(status)
	_, ws, out := output(t, plainStart, Attr{Path: "/bin/grep", Argv: []string{"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"}})
	if want := "SigBlk:\t0000000000000000\n" + string(ign); out != want || !ignoresHUP(string(ign)) {
		t.Errorf("child's signal state:\n%s\nwant:\n%s", out, want)
	}
	wantStatus(t, "grep", ws, exited(0))
}

// ignoresHUP reports whether a SigIgn line of /proc/PID/status has
// SIGHUP's bit (bit 0) set.
func ignoresHUP(line string) bool {
	mask, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "SigIgn:")), 16, 64)
	return err == nil && mask&1 != 0
}

// checkRoot: with Root the child runs chrooted, in "/" of the root unless
// Dir names another directory inside it.
func checkRoot(t *testing.T) {
	// The check's mount namespace may share its mounts with the host's.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, d := range []string{"usr", "sub"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount("/usr", filepath.Join(root, "usr"), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(filepath.Join(root, "usr"), unix.MNT_DETACH)
	// Debian's /bin, /lib and /lib64 are links into /usr.
	for _, l := range []string{"bin", "lib", "lib64"} {
		if target, err := os.Readlink("/" + l); err == nil {
			os.Symlink(target, filepath.Join(root, l))
		} else {
			t.Skipf("/%s is not a link into /usr here", l)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "marker"), []byte("inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, want string }{
		{"", "inside /\n"},
		{"/sub", "inside /sub\n"},
	} {
		a := sh(`echo "$(cat /marker) $(pwd)"`)
		a.Root, a.Dir = root, tc.dir
		if _, _, out := output(t, plainStart, a); out != tc.want {
			t.Errorf("Root %s, Dir %q: printed %q, want %q", root, tc.dir, out, tc.want)
		}
	}
	a := sh("true")
	a.Root = filepath.Join(root, "missing")
	if _, _, err := plainStart(t, a); !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "chroot") {
		t.Errorf("Root missing: %v, want ENOENT at chroot", err)
	}
}
