package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bproc/bproc/bproc"
)

// TestRfork: bproc_rfork from a C program (built here against libbproc)
// to each local node: each child finds its memory as it was and runs on
// its node with its PID; the parent's wait() gets each exit status, a
// signal to a child's PID reaches it, and the errors are BProc's.
func TestRfork(t *testing.T) {
	for _, mode := range []struct {
		name  string
		args  []string
		nodes int
	}{{"master-view", []string{"--no-diskless"}, 2}, {"diskless", nil, 8}} {
		t.Run(mode.name, func(t *testing.T) {
			c := startCluster(t, mode.nodes, mode.args...)
			bin := testProgram(t, "rfork")
			cmd := c.command("", "")
			cmd.Path, cmd.Args = bin, []string{bin, strconv.Itoa(mode.nodes)}
			r := c.runCmd(cmd, "")
			last := mode.nodes - 1
			want := []string{"signalled child killed by 10", "moved itself to n1, memory intact",
				"threaded process refused: Invalid argument", fmt.Sprintf("execmoved to n%d", last), "parent ok"}
			for i := 0; i < mode.nodes; i++ {
				want = append(want, fmt.Sprintf("child %d exited %d", i, 10+i), fmt.Sprintf("on n%d ok", i),
					fmt.Sprintf("vrfork child %d on n%d", i, i))
			}
			for _, w := range want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("rfork program: exit %d, stdout:\n%s\nstderr:\n%s\nwant %q", r.code, r.stdout, r.stderr, w)
					break
				}
			}
		})
	}
}

// TestExecMove: the Go API's ExecMove and VExecMove start remote processes
// whose ghosts are children of the calling program: Wait gets the remote
// status, Signal reaches the remote process.
func TestExecMove(t *testing.T) {
	c := startCluster(t, 2)
	cl := c.api()
	p, err := cl.ExecMove(t.Context(), 1, "/bin/sh", []string{"sh", "-c", "exit 3"}, nil, [3]*os.File{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := p.Wait(); err != nil || st.ExitCode() != 3 {
		t.Errorf("ExecMove sh -c 'exit 3': %v %v, want exit 3", st, err)
	}
	ps, err := cl.VExecMove(t.Context(), []int{0, 1}, "/bin/sleep", []string{"sleep", "30"}, nil, [3]*os.File{})
	if err != nil || len(ps) != 2 {
		t.Fatalf("VExecMove: %v %v", ps, err)
	}
	for i, p := range ps {
		p.Signal(syscall.SIGTERM)
		st, err := p.Wait()
		if ws, ok := st.Sys().(syscall.WaitStatus); err != nil || !ok || ws.Signal() != syscall.SIGTERM {
			t.Errorf("VExecMove process %d after SIGTERM: %v %v", i, st, err)
		}
	}
	if _, err := cl.ExecMove(t.Context(), 7, "/bin/true", nil, nil, [3]*os.File{}); !errors.Is(err, bproc.ErrInvalidNode) || !strings.Contains(err.Error(), "Invalid node number") {
		t.Errorf("ExecMove to a node that does not exist: %v", err)
	}
}

// TestMoveBetweenNodes: a process bpsh started on node 0 moves itself to
// node 1 and back with bproc_move; its memory and PID go with it, its
// output keeps reaching bpsh, and bpsh gets its exit status.
func TestMoveBetweenNodes(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"diskless", nil}, {"master-view", []string{"--no-diskless"}}} {
		t.Run(mode.name, func(t *testing.T) {
			c := startCluster(t, 2, mode.args...)
			bin := testProgram(t, "hop")
			r := c.runIn("/", "bpsh", "0", bin)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if r.code != 3 || len(lines) != 3 {
				t.Fatalf("hop: exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			f := strings.Fields(lines[0])
			pid := f[len(f)-3]
			for i, want := range []string{"start on n0 pid " + pid + " (node 0)", "after the first move on n1 pid " + pid + " (node 1)",
				"after the second move on n0 pid " + pid + " (node 0)"} {
				if lines[i] != want {
					t.Errorf("line %d: %q, want %q (the same pid; bproc_currnode where it is)", i, lines[i], want)
				}
			}
		})
	}
}

// TestSignalRightAfterRfork: SIGUSR1 sent to a child the moment
// bproc_rfork returns reaches it on its node, every time (the ghost could
// pass it on before the master had the child's channel, and it was lost:
// the parent waited for ever).
func TestSignalRightAfterRfork(t *testing.T) {
	c := startCluster(t, 1)
	bin := testProgram(t, "sigrace")
	cmd := c.command("", "")
	cmd.Path, cmd.Args = bin, []string{bin, "40"}
	if r := c.runCmd(cmd, ""); r.code != 0 || !strings.Contains(r.stdout, "40 signals arrived") {
		t.Errorf("sigrace 40: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	c.waitNoProcs()
}

// TestMoveRoundTrip: a process moves master -> node 0 -> node 1 -> master
// (issue 17): its PID, memory and handlers stay; its alarm() goes with it
// and an ITIMER_VIRTUAL set on the master fires on node 1; a second move
// right after a move works; a MAP_SHARED file mapping refuses the move;
// back home its parent signals it and wait() gets its exit status.
func TestMoveRoundTrip(t *testing.T) {
	c := startCluster(t, 2)
	bin := testProgram(t, "roundtrip")
	shared := filepath.Join(publicTempDir(t), "shared")
	if err := os.WriteFile(shared, make([]byte, 4096), 0o666); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, file, mb string, want []string, cred ...*syscall.Credential) {
		cmd := c.command("", "")
		cmd.Path, cmd.Args = bin, []string{bin, file, mb}
		if len(cred) > 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred[0]}
		}
		r := c.runCmd(cmd, "")
		got := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("roundtrip %s: exit %d, stdout:\n%s\nstderr:\n%s\nwant:\n%s", file, r.code, r.stdout, r.stderr, strings.Join(want, "\n"))
		}
	}
	trip := []string{
		"second move: node 1 pid same",
		"alarm on node 1: kept",
		"ITIMER_VIRTUAL on node 1: fired",
		"home: node -1 pid same",
		"alarm at home: kept",
		"SIGUSR1 at home: caught",
		"parent: child exited 7",
	}
	t.Run("trip", func(t *testing.T) { run(t, "-", "0", trip) })
	// Rebuilt in its ghost without root's privileges.
	t.Run("as nobody", func(t *testing.T) {
		run(t, "-", "0", trip, &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534}})
	})
	// 64 MB more that the original frees as it becomes the ghost: its
	// ghost connects well after the copy on node 0 has moved on.
	t.Run("second move at once", func(t *testing.T) { run(t, "-", "64", trip) })
	t.Run("shared mapping", func(t *testing.T) {
		run(t, shared, "0", append([]string{"shared mapping refused: Invalid argument"}, trip...))
	})
	c.waitNoProcs()
}

// TestMoveHomeFromBpsh: processes bpsh started on two nodes move back to
// the master; their ghosts shared an address space (a ghost group), which
// the one becoming its process leaves without disturbing the other. bpsh,
// their parent, gets their exit status and their output.
func TestMoveHomeFromBpsh(t *testing.T) {
	c := startCluster(t, 2)
	bin := testProgram(t, "hophome")
	r := c.runIn("/", "bpsh", "0,1", bin)
	for _, w := range []string{"from 0 home on -1 pid same", "from 1 home on -1 pid same"} {
		if r.code != 3 || !strings.Contains(r.stdout, w) {
			t.Errorf("bpsh 0,1 hophome: exit %d, stdout:\n%s\nstderr:\n%s\nwant %q and exit 3", r.code, r.stdout, r.stderr, w)
		}
	}
	c.waitNoProcs()
}
