package integration

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mpiProgram builds testdata/NAME.c with Debian's MPICH (package mpich,
// libmpich-dev) where the nodes see it.
func mpiProgram(t *testing.T, name string) string {
	t.Helper()
	if _, err := exec.LookPath("mpicc.mpich"); err != nil {
		t.Skip("no mpicc.mpich: apt-get install mpich libmpich-dev")
	}
	bin := filepath.Join(publicTempDir(t), name)
	src := filepath.Join(sourceRoot(t), "internal/integration/testdata", name+".c")
	if b, err := exec.Command("mpicc.mpich", "-O1", "-Wall", "-Werror", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("mpicc.mpich %s: %v\n%s", src, err, b)
	}
	return bin
}

// TestPMIAllreduce: bpsh --pmi is MPICH's process manager: 2 nodes x 2
// ranks find each other through it and sum their ranks.
//
// Debian 12's MPICH 4.0.2 (ch4:ucx) can hang in MPI_Finalize across
// nodes, under hydra as here: a rank waits for its UCX disconnects while
// the peers that must answer them sit in the PMI barrier that follows
// (fixed in MPICH 4.2, pmodels/mpich#6596). Only that hang, every rank
// having printed its sum, earns another try.
func TestPMIAllreduce(t *testing.T) {
	c := startCluster(t, 2)
	prog := mpiProgram(t, "allreduce")
	want := "rank 0 of 4: sum 10\nrank 1 of 4: sum 10\nrank 2 of 4: sum 10\nrank 3 of 4: sum 10"
	for try := 1; ; try++ {
		cmd := c.command("bpsh", "--pmi", "--per-node", "2", "0-1", "./allreduce")
		cmd.Dir = filepath.Dir(prog)
		var stdout, stderr syncBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		hung := false
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			hung = true
			cmd.Process.Signal(syscall.SIGTERM) // bpsh passes it to every rank
			<-done
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		sort.Strings(lines)
		got := strings.Join(lines, "\n")
		if hung && got == want && try < 4 {
			t.Logf("try %d: every rank summed, then MPI_Finalize hung (MPICH 4.0.2 with UCX); again", try)
			c.waitNoProcs()
			continue
		}
		if code := cmd.ProcessState.ExitCode(); hung || code != 0 || got != want {
			t.Errorf("bpsh --pmi --per-node 2 0-1 ./allreduce: hung %v, exit %d, stdout %q, stderr %q; want exit 0 and %q",
				hung, code, stdout.String(), stderr.String(), want)
		}
		break
	}
	c.waitNoProcs()
}

// TestPMIRankKilled: a rank killed through its ghost ends the job with its
// status; the ranks waiting for it are stopped, as hydra stops them.
func TestPMIRankKilled(t *testing.T) {
	c := startCluster(t, 2)
	prog := mpiProgram(t, "allreduce")
	cmd := c.command("bpsh", "--pmi", "--per-node", "2", "0-1", "./allreduce")
	cmd.Dir = filepath.Dir(prog)
	cmd.Env = append(cmd.Env, "ALLREDUCE_HANG_RANK=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ended := false
	defer func() {
		if !ended {
			for _, g := range children(cmd.Process.Pid) {
				syscall.Kill(g, syscall.SIGKILL)
			}
			cmd.Process.Kill()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Errorf("bpsh's output still open 20 s after it was killed")
			}
		}
	}()
	pid := make(chan int, 1)
	go func() {
		re := regexp.MustCompile(`^rank 1 hanging, pid (\d+)$`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				n, _ := strconv.Atoi(m[1])
				pid <- n
			}
		}
		done <- cmd.Wait()
	}()
	var ghost int
	select {
	case ghost = <-pid:
	case <-time.After(30 * time.Second):
		t.Fatalf("rank 1 did not get past MPI_Init in 30 s; stderr %q", stderr.String())
	}
	if err := syscall.Kill(ghost, syscall.SIGTERM); err != nil {
		t.Fatalf("kill the ghost of rank 1 (PID %d): %v", ghost, err)
	}
	select {
	case err := <-done:
		ended = true
		code := cmd.ProcessState.ExitCode()
		why := "rank 1 (node 0) killed by SIGTERM: stopping the job"
		if code != 128+int(syscall.SIGTERM) || !strings.Contains(stderr.String(), why) {
			t.Errorf("bpsh: %v, exit %d, stderr %q; want exit 143 and %q", err, code, stderr.String(), why)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the job did not end in 30 s after rank 1 was killed; stderr %q", stderr.String())
	}
	c.waitNoProcs()
}

// TestPMIRankRefused: a rank that cannot run (nobody may not run on node
// 1) ends the job at once, with 255: the others would wait for it in
// MPI_Init forever.
func TestPMIRankRefused(t *testing.T) {
	c := startCluster(t, 2)
	prog := mpiProgram(t, "allreduce")
	if r := c.run("", "bpctl", "-S", "1", "-m", "0100"); r.code != 0 {
		t.Fatalf("bpctl -S 1 -m 0100: exit %d, %q", r.code, r.stderr)
	}
	cmd := c.command("bpsh", "--pmi", "0-1", "./allreduce")
	cmd.Dir = filepath.Dir(prog)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	began := time.Now()
	r := c.runCmd(cmd, "")
	why := "bpsh: rank 1 (node 1) did not run: stopping the job"
	if r.code != 255 || !strings.Contains(r.stderr, why) || time.Since(began) > 30*time.Second {
		t.Errorf("bpsh --pmi 0-1 as nobody, who may not run on node 1: exit %d after %v, stderr %q; want 255 and %q",
			r.code, time.Since(began).Round(time.Millisecond), r.stderr, why)
	}
	c.waitNoProcs()
}
