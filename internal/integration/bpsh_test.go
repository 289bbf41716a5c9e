package integration

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/procfs"
)

func TestProcessSpace(t *testing.T) {
	c := startCluster(t, 3)

	t.Run("hostname on every node with -p", func(t *testing.T) {
		r := c.run("", "bpsh", "-a", "-p", "hostname")
		want := "  0: n0\n  1: n1\n  2: n2\n"
		if r.code != 0 || sortLines(r.stdout) != want {
			t.Errorf("bpsh -a -p hostname = %q (exit %d, stderr %q), want %q", r.stdout, r.code, r.stderr, want)
		}
	})

	t.Run("the remote process's PID is its ghost's", func(t *testing.T) {
		// sh -c 'echo $$' prints getpid() on the node; the ghost is
		// bpsh's only child here.
		cmd := c.command("bpsh", "1", "sh", "-c", "echo $$; exec sleep 300.7")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			for _, g := range children(cmd.Process.Pid) {
				syscall.Kill(g, syscall.SIGKILL)
			}
			cmd.Wait()
		}()
		line := make(chan string, 1)
		go func() {
			l, _ := bufio.NewReader(out).ReadString('\n')
			line <- strings.TrimSpace(l)
		}()
		var remote string
		select {
		case remote = <-line:
		case <-time.After(10 * time.Second):
			t.Fatal("no PID from the node in 10 s")
		}
		if ghost := waitChild(t, cmd.Process.Pid); remote != strconv.Itoa(ghost) {
			t.Errorf("getpid() on node 1 = %s, ghost's PID on the master = %d", remote, ghost)
		}
	})

	t.Run("exit codes", func(t *testing.T) {
		for _, code := range []int{0, 1, 7, 255} {
			r := c.run("", "bpsh", "1", "sh", "-c", fmt.Sprintf("exit %d", code))
			if r.code != code {
				t.Errorf("bpsh 1 sh -c 'exit %d': exit %d (stderr %q)", code, r.code, r.stderr)
			}
		}
	})

	t.Run("death by signal", func(t *testing.T) {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGSEGV} {
			r := c.run("", "bpsh", "0", "sh", "-c", fmt.Sprintf("kill -%d $$", int(sig)))
			if r.code != 128+int(sig) {
				t.Errorf("remote kill -%d: bpsh exit %d, want %d (stderr %q)", int(sig), r.code, 128+int(sig), r.stderr)
			}
		}
	})

	t.Run("range spec and largest status", func(t *testing.T) {
		r := c.run("", "bpsh", "0-1,n2", "sh", "-c", `echo "$BPROC_NODE $BPROC_RANK"; exit $BPROC_NODE`)
		want := "0 0000000\n1 0000001\n2 0000002\n"
		if sortLines(r.stdout) != want || r.code != 2 {
			t.Errorf("bpsh 0-1,n2 = %q exit %d, want %q exit 2 (stderr %q)", r.stdout, r.code, want, r.stderr)
		}
	})

	t.Run("several nodes, one killed by a signal", func(t *testing.T) {
		r := c.run("", "bpsh", "0,1", "sh", "-c", `[ $BPROC_NODE = 1 ] && kill -SEGV $$; exit 0`)
		if r.code != 128+11 || !strings.Contains(r.stderr, "bpsh: node 1: killed by SIGSEGV") {
			t.Errorf("exit %d stderr %q, want 139 and a line for node 1", r.code, r.stderr)
		}
	})

	t.Run("stdin stdout stderr through pipes", func(t *testing.T) {
		r := c.run("line one\nline two\n", "bpsh", "2", "sh", "-c", "cat; echo oops >&2")
		if r.stdout != "line one\nline two\n" || r.stderr != "oops\n" || r.code != 0 {
			t.Errorf("got stdout %q stderr %q exit %d", r.stdout, r.stderr, r.code)
		}
	})

	t.Run("stdin copied to every node", func(t *testing.T) {
		r := c.run("abc\n", "bpsh", "-p", "0-2", "cat")
		want := "  0: abc\n  1: abc\n  2: abc\n"
		if sortLines(r.stdout) != want {
			t.Errorf("got %q, want %q (stderr %q)", r.stdout, want, r.stderr)
		}
	})

	t.Run("files as stdin and stdout", func(t *testing.T) {
		dir := t.TempDir()
		in := filepath.Join(dir, "in")
		os.WriteFile(in, []byte("from a file\n"), 0o644)
		inF, _ := os.Open(in)
		defer inF.Close()
		outPath := filepath.Join(dir, "out")
		outF, _ := os.Create(outPath)
		cmd := c.command("bpsh", "0", "tr", "a-z", "A-Z")
		cmd.Stdin, cmd.Stdout = inF, outF
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		outF.Close()
		if b, _ := os.ReadFile(outPath); string(b) != "FROM A FILE\n" {
			t.Errorf("output file = %q", b)
		}
	})

	t.Run("-N and -O", func(t *testing.T) {
		r := c.run("ignored\n", "bpsh", "-N", "0", "sh", "-c", "cat; echo hidden")
		if r.stdout != "" || r.code != 0 {
			t.Errorf("-N printed %q exit %d", r.stdout, r.code)
		}
		r = c.run("", "bpsh", "-O", "/tmp/bpsh-out", "1", "echo", "to a node file")
		if r.code != 0 {
			t.Fatalf("-O: exit %d %q", r.code, r.stderr)
		}
		r = c.run("", "bpsh", "1", "cat", "/tmp/bpsh-out")
		if r.stdout != "to a node file\n" {
			t.Errorf("the node's /tmp/bpsh-out = %q", r.stdout)
		}
		if _, err := os.Stat("/tmp/bpsh-out"); err == nil {
			t.Errorf("-O wrote the master's /tmp, not the node's")
		}
	})

	t.Run("-s -d keep node order", func(t *testing.T) {
		r := c.run("", "bpsh", "-d", "2,0", "sh", "-c", `echo "hello from $BPROC_NODE"`)
		dash := strings.Repeat("-", 69)
		want := "2\t" + dash + "\nhello from 2\n0\t" + dash + "\nhello from 0\n"
		if r.stdout != want {
			t.Errorf("bpsh -d = %q, want %q", r.stdout, want)
		}
	})

	t.Run("-p partial last line", func(t *testing.T) {
		r := c.run("", "bpsh", "-p", "1", "printf", "a\nb")
		if r.stdout != "  1: a\n  1: b\n" {
			t.Errorf("got %q", r.stdout)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
			msg  string
		}{
			{[]string{"bpsh", "9", "true"}, 2, `Invalid node specification "9"`},
			{[]string{"bpsh", "0-x", "true"}, 2, `Invalid node specification "0-x"`},
			// Node numbers only: the master's answer says which is none.
			{[]string{"bpsh", "0,n9,1", "true"}, 2, `Invalid node specification "n9"`},
			{[]string{"bpsh", "--per-node", "3", "1,.9", "true"}, 2, `Invalid node specification ".9"`},
			{[]string{"bpsh", "0", "no-such-command-here"}, 127, "no-such-command-here: command not found"},
			{[]string{"bpsh", "--bogus", "0", "true"}, 2, "unknown flag --bogus"},
			{[]string{"bpsh", "-b", "0", "0", "true"}, 2, "-b 0"},
			{[]string{"bpsh"}, 2, "missing node spec"},
			{[]string{"no-such-applet"}, 2, `unknown applet "no-such-applet"`},
		} {
			r := c.run("", tc.args[0], tc.args[1:]...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) || len(lines) != 1 {
				t.Errorf("%v: exit %d stderr %q, want exit %d and one line with %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
			}
		}
	})

	t.Run("bytes that are not UTF-8", func(t *testing.T) {
		// A Latin-1 file name is a file name: argv and the environment
		// reach the node byte for byte, with flags (kong) or without.
		for _, args := range [][]string{
			{"0", "sh", "-c", `printf '%s|%s' "$1" "$X"`, "sh", "caf\xe9"},
			{"-n", "1", "sh", "-c", `printf '%s|%s' "$1" "$X"`, "sh", "caf\xe9"},
		} {
			cmd := c.command("bpsh", args...)
			cmd.Env = append(cmd.Env, "X=\xff\xfe")
			out, err := cmd.Output()
			if err != nil || string(out) != "caf\xe9|\xff\xfe" {
				t.Errorf("bpsh %q: %q %v, want %q", args, out, err, "caf\xe9|\xff\xfe")
			}
		}
	})

	t.Run("cwd kept, or / with a warning", func(t *testing.T) {
		r := c.run("", "bpsh", "0", "pwd")
		wd, _ := os.Getwd()
		if strings.TrimSpace(r.stdout) != wd {
			t.Errorf("remote pwd = %q, want %q", r.stdout, wd)
		}
		cmd := c.command("bpsh", "0", "pwd")
		cmd.Dir = t.TempDir() // under the master's /tmp, which a node does not see
		out, _ := cmd.Output()
		if strings.TrimSpace(string(out)) != "/" {
			t.Errorf("pwd in a directory the node lacks = %q, want /", out)
		}
	})

	t.Run("ps shows the remote argv and signals reach it", func(t *testing.T) {
		cmd := c.command("bpsh", "1", "sh", "-c", `trap 'echo got USR1; exit 3' USR1; echo ready; while :; do sleep 0.05; done`, "trapper")
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		buf := make([]byte, 6)
		if _, err := stdout.Read(buf); err != nil || string(buf) != "ready\n" {
			t.Fatalf("read ready: %q %v", buf, err)
		}
		ghost := onlyChild(t, cmd.Process.Pid)
		argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", ghost))
		if want := "sh\x00-c\x00"; !strings.HasPrefix(string(argv), want) || !strings.HasSuffix(string(argv), "trapper\x00") {
			t.Errorf("ghost cmdline = %q", argv)
		}
		syscall.Kill(ghost, syscall.SIGUSR1)
		rest := make([]byte, 64)
		n, _ := stdout.Read(rest)
		err := cmd.Wait()
		if string(rest[:n]) != "got USR1\n" || exitCode(err) != 3 {
			t.Errorf("after SIGUSR1: output %q, exit %v; want got USR1, 3", rest[:n], err)
		}
	})

	t.Run("signals sent to bpsh itself", func(t *testing.T) {
		// SIGTERM goes on to every ghost; SIGINT sent to bpsh
		// alone (not from the terminal, which reaches the ghosts too) is
		// swallowed, and bpsh stays to collect the statuses.
		cmd := c.command("bpsh", "0,1", "sh", "-c", `trap 'exit 5' TERM; trap '' INT; echo ready; while :; do sleep 0.05; done`)
		stdout, _ := cmd.StdoutPipe()
		startReaped(t, cmd)
		ready := make([]byte, 12)
		if _, err := io.ReadFull(stdout, ready); err != nil || string(ready) != "ready\nready\n" {
			t.Fatalf("read ready: %q %v", ready, err)
		}
		cmd.Process.Signal(syscall.SIGINT)
		time.Sleep(100 * time.Millisecond)
		if len(children(cmd.Process.Pid)) != 2 {
			t.Fatalf("after SIGINT to bpsh: ghosts %v, want both still there", children(cmd.Process.Pid))
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); exitCode(err) != 5 {
			t.Errorf("bpsh after SIGTERM: %v, want exit 5 from both traps", err)
		}
	})

	t.Run("SIGKILL of the ghost kills the remote process", func(t *testing.T) {
		cmd := c.startBpsh(t, "2", "sleep", "301.5")
		ghost := waitChild(t, cmd.Process.Pid)
		waitRemote(t, "sleep", "301.5")
		syscall.Kill(ghost, syscall.SIGKILL)
		err := cmd.Wait()
		if exitCode(err) != 137 {
			t.Errorf("bpsh after SIGKILL of its ghost: %v, want exit 137", err)
		}
		waitFor(t, "remote sleep gone", func() bool { return len(pgrep("sleep", "301.5")) == 0 })
		c.waitNoProcs()
	})

	t.Run("SIGSTOP and SIGCONT reach the remote process", func(t *testing.T) {
		cmd := c.startBpsh(t, "0", "sleep", "302.5")
		ghost := waitChild(t, cmd.Process.Pid)
		var remote int
		waitFor(t, "remote sleep", func() bool {
			for _, p := range pgrep("sleep", "302.5") {
				if p != ghost {
					remote = p
				}
			}
			return remote != 0
		})
		syscall.Kill(ghost, syscall.SIGSTOP)
		waitFor(t, "remote stopped", func() bool { return procState(remote) == "T" })
		syscall.Kill(ghost, syscall.SIGCONT)
		waitFor(t, "remote running again", func() bool { return procState(remote) == "S" })
		syscall.Kill(ghost, syscall.SIGTERM)
		if err := cmd.Wait(); exitCode(err) != 128+15 {
			t.Errorf("bpsh after SIGTERM of its ghost: %v, want exit 143", err)
		}
	})

	t.Run("--per-node and --gather", func(t *testing.T) {
		r := c.run("", "bpsh", "--per-node", "4", "0-2", "sh", "-c", `echo "$BPROC_NODE $BPROC_RANK"`)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || len(lines) != 12 || !strings.Contains(r.stdout, "2 0000011\n") || !strings.Contains(r.stdout, "0 0000003\n") {
			t.Errorf("bpsh --per-node 4 0-2: exit %d, %q", r.code, r.stdout)
		}
		r = c.run("", "bpsh", "--gather", "0-2", "sh", "-c", `echo same; [ $BPROC_NODE = 1 ] && { echo odd; exit 4; }; exit 0`)
		want := "---------------\nn[0,2] (2)\n---------------\nsame\n---------------\nn1 (1)\n---------------\nsame\nodd\n"
		if r.stdout != want || r.code != 4 || r.stderr != "bpsh: failed: n1 (1) exit 4\n" {
			t.Errorf("bpsh --gather: exit %d stdout %q stderr %q; want %q", r.code, r.stdout, r.stderr, want)
		}
		if r := c.run("", "bpsh", "--per-node", "0", "0", "true"); r.code != 2 || !strings.Contains(r.stderr, "--per-node 0") {
			t.Errorf("--per-node 0: exit %d %q", r.code, r.stderr)
		}
	})

	// The ghosts of one bpsh share its stdout and stderr in the master,
	// and hold no stdin there when it is /dev/null: one descriptor each
	// (its connection), not four.
	t.Run("one master descriptor per ghost", func(t *testing.T) {
		fds := func() int {
			ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.master.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			return len(ents)
		}
		cl := c.client() // one: every client() is a connection until the end
		before := fds()
		const ghosts = 60
		cmd := c.startBpsh(t, "--per-node", "20", "0-2", "sleep", "30")
		var procs []localapi.Proc
		for end := time.Now().Add(30 * time.Second); len(procs) < ghosts; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%d of %d remote processes after 30 s: %s", len(procs), ghosts, stderrOf(cmd))
			}
			var err error
			if procs, err = cl.Procs(); err != nil {
				t.Fatal(err)
			}
		}
		// Before they were shared: 4.3 each. Some more are the nodes'
		// file sessions, which come and go.
		if grew := fds() - before; grew > 2*ghosts {
			t.Errorf("the master holds %d more descriptors with %d ghosts, want about one each", grew, ghosts)
		} else {
			t.Logf("%d ghosts: %d more descriptors in the master", ghosts, grew)
		}
		for _, g := range children(cmd.Process.Pid) {
			syscall.Kill(g, syscall.SIGKILL)
		}
		cmd.Wait()
		c.waitNoProcs()
	})

	t.Run("a non-blocking socket as stdout stays non-blocking", func(t *testing.T) {
		// The ghosts of one bpsh share its stdout, and the master tells
		// two descriptions of a socket apart by comparing them; that
		// must not change the user's description, which a program that
		// set it non-blocking relies on.
		pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range pair {
			if err := syscall.SetNonblock(fd, true); err != nil {
				t.Fatal(err)
			}
		}
		ours, theirs := os.NewFile(uintptr(pair[0]), "ours"), os.NewFile(uintptr(pair[1]), "theirs")
		defer ours.Close()
		cmd := c.command("bpsh", "0-2", "sh", "-c", "sleep 0.5; echo hi") // all three at once
		cmd.Stdout = theirs
		err = cmd.Run()
		flags, ferr := unix.FcntlInt(uintptr(pair[1]), unix.F_GETFL, 0)
		theirs.Close()
		if err != nil || ferr != nil {
			t.Fatalf("bpsh 0-2 echo hi to a socket: %v %v", err, ferr)
		}
		if flags&unix.O_NONBLOCK == 0 {
			t.Error("bpsh's stdout, a non-blocking socket, is blocking after the run")
		}
		ours.SetReadDeadline(time.Now().Add(10 * time.Second))
		out, _ := io.ReadAll(ours)
		if string(out) != "hi\nhi\nhi\n" {
			t.Errorf("through the socket: %q, want hi three times", out)
		}
	})

	t.Run("bpstat", func(t *testing.T) {
		r := c.run("", "bpstat")
		want := regexp.MustCompile(`(?m)^Node\(s\)\s+Status\s+Mode\s+User\s+Group\n0-2\s+up\s+---x--x--x root\s+root\n$`)
		if !want.MatchString(r.stdout) {
			t.Errorf("bpstat =\n%s", r.stdout)
		}
		r = c.run("", "bpstat", "-l")
		if !strings.Contains(r.stdout, "   1 127.0.0.1       up           ---x--x--x    root") {
			t.Errorf("bpstat -l =\n%s", r.stdout)
		}
	})
	c.waitNoProcs()
}

func sortLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i := 1; i < len(lines); i++ {
		for j := i; j > 0 && lines[j] < lines[j-1] && lines[j] != ""; j-- {
			lines[j], lines[j-1] = lines[j-1], lines[j]
		}
	}
	return strings.Join(lines, "")
}

// exitCode is the status a shell shows for a command that ended with
// err: 128+N for a death by signal N (bpsh with one process dies of the
// process's signal).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// children lists the children of every thread of pid: bpsh forks ghosts
// from whichever Go thread runs, and each task's file lists only its own.
func children(pid int) []int {
	set, _ := procfs.Children(pid)
	return slices.Sorted(maps.Keys(set))
}

// startBpsh starts bpsh in the background and makes sure, even when the test
// fails half way, that it and its ghosts are killed and reaped.
func (c *cluster) startBpsh(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := c.command("bpsh", args...)
	if cmd.Stderr == nil {
		cmd.Stderr = &syncBuffer{} // for stderrOf
	}
	return startReaped(t, cmd)
}

// startReaped starts cmd, a bpsh, and makes sure, even when the test fails
// half way, that it and its ghosts are killed and reaped.
func startReaped(t *testing.T, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, g := range children(cmd.Process.Pid) {
			syscall.Kill(g, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// stderrOf is what a bpsh of startBpsh wrote to its stderr so far.
func stderrOf(cmd *exec.Cmd) string {
	if b, ok := cmd.Stderr.(*syncBuffer); ok {
		return b.String()
	}
	return ""
}

func onlyChild(t *testing.T, pid int) int {
	t.Helper()
	kids := children(pid)
	if len(kids) != 1 {
		t.Fatalf("process %d has children %v, want one ghost", pid, kids)
	}
	return kids[0]
}

func waitChild(t *testing.T, pid int) int {
	t.Helper()
	waitFor(t, "ghost", func() bool { return len(children(pid)) == 1 })
	return children(pid)[0]
}

// waitRemote waits until the remote process of a ghost runs argv: both
// are in this machine's process table (a local node shares it) under
// the same argv. A node that dies before that fails the start instead
// (255, "Slave node died"), not the process.
func waitRemote(t *testing.T, argv ...string) {
	t.Helper()
	waitFor(t, "the remote "+strings.Join(argv, " "), func() bool { return len(pgrep(argv...)) == 2 })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pgrep finds processes on this machine (local nodes share its process
// table) whose argv is exactly argv.
func pgrep(argv ...string) []int {
	want := strings.Join(argv, "\x00") + "\x00"
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline"); string(b) == want {
			out = append(out, pid)
		}
	}
	return out
}

func procState(pid int) string {
	st, err := procfs.ReadStat(pid)
	if err != nil {
		return ""
	}
	return string(st.State)
}
