package integration

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/wire"
)

// TestStreamsWithoutDescriptor: a ghost that hands the master no stdout
// (or no stderr) gets its process's output on that stream dropped, not
// lost with the rest: the master copies only streams it has somewhere to
// put, and has the node write the other to /dev/null. 4 MB is twice an
// SSH channel's window: were the node still sending that stream with no
// one reading it here, the process would block and never exit.
func TestStreamsWithoutDescriptor(t *testing.T) {
	c := startCluster(t, 1)
	for _, tc := range []struct {
		name   string
		keep   int // the descriptor the ghost hands over: 1 or 2
		script string
		want   string
		code   int
	}{
		{"no stdout", 2, "head -c 4000000 /dev/zero; echo to stderr >&2; exit 7", "to stderr\n", 7},
		{"no stderr", 1, "head -c 4000000 /dev/zero >&2; echo to stdout; exit 5", "to stdout\n", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rd, wr, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			var files [3]*os.File
			files[tc.keep] = wr
			pid, job := startAPI(t, c, files, "sh", "-c", tc.script)
			wr.Close()
			got := make(chan string, 1)
			go func() { b, _ := io.ReadAll(rd); got <- string(b) }()
			ws := waitGhost(t, pid, 30*time.Second)
			if !ws.Exited() || ws.ExitStatus() != tc.code {
				t.Errorf("ghost of sh -c %q: wait status %#x, want exit %d", tc.script, uint32(ws), tc.code)
			}
			job.Close()
			select {
			case s := <-got:
				if s != tc.want {
					t.Errorf("fd %d of sh -c %q = %q, want %q", tc.keep, tc.script, s, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("fd %d of sh -c %q: no end of file 10 s after the ghost exited", tc.keep, tc.script)
			}
		})
	}
}

// TestStreamsIntact: what crosses the relay arrives whole and in order
// whatever its rhythm: a line, a pause, 3 MB at once, a pause, a line, in
// and then out on stdout or stderr (the copies hold a small buffer while a
// stream is quiet and borrow a large one while it is busy).
func TestStreamsIntact(t *testing.T) { testStreamsIntact(t, startCluster(t, 1)) }

// TestStreamsIntactThroughGhost: the same on a node that outlives its
// master, whose ghosts write the output themselves (ghost.CmdData) and
// keep the stdin the node has not acknowledged (ghost.CmdKeep).
func TestStreamsIntactThroughGhost(t *testing.T) {
	c, _ := startWithSlaves(t, 1, "--no-diskless", "--node-grace", "60s")
	testStreamsIntact(t, c)
}

func testStreamsIntact(t *testing.T, c *cluster) {
	big := make([]byte, 3<<20)
	rand.Read(big)
	first, last := []byte("first line\n"), []byte("last line\n")
	in := append(append(append([]byte{}, first...), big...), last...)
	for _, tc := range []struct {
		name   string
		fd     int
		script string
	}{
		{"stdout", 1, "cat; echo done"},
		{"stderr", 2, "cat >&2; echo done >&2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inR, inW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer inW.Close()
			outR, outW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer outR.Close()
			null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer null.Close()
			files := [3]*os.File{inR, null, null}
			files[tc.fd] = outW
			pid, job := startAPI(t, c, files, "sh", "-c", tc.script)
			defer job.Close()
			inR.Close()
			outW.Close()
			got := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(outR); got <- b }()
			inW.Write(first)
			time.Sleep(200 * time.Millisecond)
			inW.Write(big)
			time.Sleep(200 * time.Millisecond)
			inW.Write(last)
			inW.Close()
			ws := waitGhost(t, pid, 60*time.Second)
			if !ws.Exited() || ws.ExitStatus() != 0 {
				t.Errorf("ghost of sh -c %q: wait status %#x, want exit 0", tc.script, uint32(ws))
			}
			var out []byte
			select {
			case out = <-got:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: no end of file 10 s after the ghost exited", tc.name)
			}
			want := append(append([]byte{}, in...), "done\n"...)
			if !bytes.Equal(out, want) {
				n := 0
				for n < len(out) && n < len(want) && out[n] == want[n] {
					n++
				}
				t.Errorf("%s: %d bytes, want %d (the first difference at byte %d)", tc.name, len(out), len(want), n)
			}
		})
	}
}

// TestSignalsManyGhosts: each of 200 live processes on two nodes, none
// with stdio, gets the signal sent to its ghost: the master watches all
// their ghosts with one epoll, and a wake-up lost or sent to the wrong
// process would leave one running (or kill it by something else).
func TestSignalsManyGhosts(t *testing.T) {
	c := startCluster(t, 2)
	cl, err := apiclient.Dial(c.socket)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	nodes := make([]int, n)
	for i := range nodes {
		nodes[i] = i % 2
	}
	// USR1 and USR2 to alternate ghosts: each must die of its own.
	job, err := cl.Run(localapi.Run{Nodes: nodes, Command: wire.Command{Path: "/bin/sleep", Argv: []string{"sleep", "600"},
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", NoIO: true}})
	if err != nil {
		cl.Close()
		t.Fatal(err)
	}
	defer job.Close()
	go func() {
		for range job.Events {
		}
	}()
	var pids []int
	defer func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for _, pid := range pids {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
	}()
	for i := range job.Ranks {
		pid, err := job.StartGhost(i, [3]*os.File{})
		if err != nil {
			t.Fatalf("start ghost %d: %v", i, err)
		}
		pids = append(pids, pid)
	}
	status := c.client()
	waitFor(t, "200 remote sleeps running", func() bool {
		procs, err := status.Procs()
		running := 0
		for _, p := range procs {
			if p.NodePID != 0 {
				running++
			}
		}
		return err == nil && running == n
	})
	sig := func(i int) syscall.Signal { return []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2}[i%2] }
	for i, pid := range pids {
		syscall.Kill(pid, sig(i))
	}
	left := pids
	pids = nil // reaped here from now on
	var bad []string
	for i, pid := range left {
		ws := waitGhost(t, pid, 30*time.Second)
		if !ws.Signaled() || ws.Signal() != sig(i) {
			bad = append(bad, strings.TrimSpace(ws.Signal().String()))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d ghosts did not die of the signal sent to them: %v", len(bad), n, bad)
	}
}

// startAPI starts argv on node 0 through the Go API with the ghost's stdio
// files (nil: none), and returns the ghost's PID and the job.
func startAPI(t *testing.T, c *cluster, files [3]*os.File, argv ...string) (int, *apiclient.Job) {
	t.Helper()
	cl, err := apiclient.Dial(c.socket)
	if err != nil {
		t.Fatal(err)
	}
	job, err := cl.Run(localapi.Run{Nodes: []int{0}, Command: wire.Command{Path: "/bin/" + argv[0], Argv: argv,
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/"}})
	if err != nil {
		cl.Close()
		t.Fatal(err)
	}
	go func() {
		for range job.Events {
		}
	}()
	pid, err := job.StartGhost(0, files)
	if err != nil {
		job.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { // a failure half way leaves no ghost behind
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
	})
	return pid, job
}

// waitGhost reaps the ghost pid (a child of the test), killing it after
// timeout: a ghost that does not end with its process is a failure.
func waitGhost(t *testing.T, pid int, timeout time.Duration) syscall.WaitStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if err != nil {
			t.Fatalf("wait for ghost %d: %v", pid, err)
		}
		if got == pid {
			return ws
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			syscall.Wait4(pid, &ws, 0, nil)
			t.Fatalf("ghost %d still there after %v", pid, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStdinAfterMove: a process that moves itself from node 0 to node 1
// (bproc_move) reads the rest of its stdin there, and the signal sent to
// its ghost after the move reaches it there: the relay goes on on the new
// node's channel, its stdin copy stopped on the old one without losing a
// byte and started again on the new one.
func TestStdinAfterMove(t *testing.T) {
	c := startCluster(t, 2)
	bin := testProgram(t, "hopin")
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inW.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	cmd := c.command("bpsh", "0", bin)
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, &syncBuffer{}
	startReaped(t, cmd)
	inR.Close()
	outW.Close()
	lines := make(chan string, 10)
	go func() {
		r := bufio.NewReader(outR)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- strings.TrimSuffix(l, "\n")
		}
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case l := <-lines:
			if l != want {
				t.Fatalf("hopin said %q, want %q (stderr %q)", l, want, stderrOf(cmd))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("hopin: no %q within 30 s (stderr %q)", want, stderrOf(cmd))
		}
	}
	io.WriteString(inW, "one\n")
	expect("got one on node 0")
	expect("moved to node 1")
	io.WriteString(inW, "two\n")
	expect("got two on node 1")
	ghost := onlyChild(t, cmd.Process.Pid)
	if err := syscall.Kill(ghost, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	expect("usr1 on node 1")
	if err := cmd.Wait(); exitCode(err) != 5 {
		t.Errorf("bpsh 0 hopin: %v, want exit 5", err)
	}
}

// TestStdinLeftAfterExit: what is written to a process's stdin after it
// has ended is the next reader's, not taken by the master: a shell
// running bpsh from a loop reading the same input (or the user's
// terminal) would otherwise lose a line to each process. The process
// reads one line; the second is written while it runs, the third once
// bpsh has ended, and both are still there to be read.
func TestStdinLeftAfterExit(t *testing.T) {
	c := startCluster(t, 1)
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inR.Close()
	defer inW.Close()
	cmd := c.command("bpsh", "0", "sh", "-c", "read line; echo got $line")
	cmd.Dir = "/"
	cmd.Stdin = inR
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &syncBuffer{}
	// One line only: sh's read takes a byte at a time from a pipe, and
	// the master's copy takes what the pipe has; a second line written
	// now could be taken for the process, which is the user's loss too
	// but not the one tested here.
	io.WriteString(inW, "one\n")
	startReaped(t, cmd)
	if err := cmd.Wait(); err != nil || out.String() != "got one\n" {
		t.Fatalf("bpsh 0 sh -c read: %v, stdout %q, stderr %q", err, out.String(), stderrOf(cmd))
	}
	io.WriteString(inW, "two\n")
	time.Sleep(200 * time.Millisecond) // time for a copy left behind to take it
	inR.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, err := inR.Read(buf)
	if got := string(buf[:n]); got != "two\n" {
		t.Errorf("stdin after bpsh ended: read %q (%v), want the line written then, two", got, err)
	}
}
