package bench

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	pmiRanks = flag.Int("pmi-ranks", 64, "ranks of the MPI_Init rows")
	pmiNodes = flag.Int("pmi-nodes", 16, "nodes of the MPI_Init rows (ranks per node: pmi-ranks / pmi-nodes)")
	pmiRuns  = flag.Int("pmi-runs", 3, "timed runs of each launcher in the MPI_Init rows")
)

// BenchmarkPMI times an MPI job's start: from the launcher's exec until
// every rank of an MPICH program has passed MPI_Init (testdata/mpiinit.c;
// each rank prints the time it did, on the clock the namespace nodes
// share with the master), with 64 ranks on 16 nodes. bpsh --pmi starts a
// process and a ghost per rank on the nodes and serves PMI itself. Beside
// it MPICH's own mpiexec.hydra twice: with its ssh launcher and bprsh as
// the ssh (there is no sshd in namespace nodes), a hydra proxy per node
// that forks its ranks there, as hydra runs over ssh; and with -launcher
// fork, its proxies forked on this machine for the same 16 host names, so
// the ranks see 16 nodes of 4 but no node is reached: a floor.
func BenchmarkPMI(b *testing.B) {
	needRoot(b)
	for _, tool := range []string{"mpicc.mpich", "mpiexec.hydra"} {
		if _, err := exec.LookPath(tool); err != nil {
			report.Note("MPI_Init rows: no %s (apt-get install mpich libmpich-dev)", tool)
			b.Skipf("no %s", tool)
		}
	}
	ranks, nodes := *pmiRanks, *pmiNodes
	if nodes <= 0 || ranks%nodes != 0 {
		b.Fatalf("-pmi-ranks %d is not a multiple of -pmi-nodes %d", ranks, nodes)
	}
	per := ranks / nodes
	bin := binary(b)
	// Nodes see the master's files, but for /tmp, which is each node's own.
	dir, err := os.MkdirTemp("/var/lib", "bproc-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	prog := filepath.Join(dir, "mpiinit")
	if out, err := exec.Command("mpicc.mpich", "-O1", "-Wall", "-Werror", "-o", prog, "testdata/mpiinit.c").CombinedOutput(); err != nil {
		b.Fatalf("mpicc.mpich: %v\n%s", err, out)
	}
	c := bigCluster(b, bin, nodes)

	hosts := make([]string, nodes)
	for i := range hosts {
		hosts[i] = "n" + strconv.Itoa(i)
	}
	type launcher struct {
		what string
		argv []string
		took []float64
		bad  int
	}
	ls := []*launcher{
		{what: fmt.Sprintf("bpsh --pmi: %d ranks on %d nodes past MPI_Init", ranks, nodes),
			argv: []string{c.Applet("bpsh"), "--pmi", "--per-node", strconv.Itoa(per), fmt.Sprintf("0-%d", nodes-1), prog}},
		{what: fmt.Sprintf("mpiexec.hydra -launcher ssh -launcher-exec bprsh: %d ranks on %d nodes past MPI_Init", ranks, nodes),
			argv: []string{"mpiexec.hydra", "-launcher", "ssh", "-launcher-exec", c.Applet("bprsh"), "-hosts", strings.Join(hosts, ","),
				"-ppn", strconv.Itoa(per), "-n", strconv.Itoa(ranks), prog}},
		{what: fmt.Sprintf("mpiexec.hydra -launcher fork: %d ranks, %d hosts, past MPI_Init", ranks, nodes),
			argv: []string{"mpiexec.hydra", "-launcher", "fork", "-hosts", strings.Join(hosts, ","),
				"-ppn", strconv.Itoa(per), "-n", strconv.Itoa(ranks), prog}},
	}
	// A warm-up run each (the nodes' views fetch MPICH's libraries on the
	// first), then turns.
	for run := -1; run < *pmiRuns; run++ {
		for _, l := range ls {
			took, err := untilInit(c.Env(), ranks, l.argv)
			if run < 0 {
				continue
			}
			if err != nil {
				l.bad++
				b.Logf("%s: %v", l.what, err)
				continue
			}
			l.took = append(l.took, took.Seconds())
		}
	}
	for _, l := range ls {
		if len(l.took) > 0 {
			report.Add(l.what, "s", l.took, Goal{})
		}
		if l.bad > 0 {
			report.Note("%s: %d of %d runs failed (see the log)", l.what, l.bad, *pmiRuns)
		}
	}
	report.Note("MPI_Init rows: MPICH %s (Debian's, ch4:ucx, PMI-1), testdata/mpiinit.c; hydra's ssh launcher runs bprsh (no sshd in namespace nodes); -launcher fork forks hydra's proxies here for host names n0-n%d: a floor, no node is reached",
		mpichVersion(), nodes-1)
}

// untilInit runs argv and returns the time from its start until the last
// of its ranks printed that it passed MPI_Init; every rank must have.
// The launcher's exit status is not asked: hydra's proxies complain
// (exit 255) at ranks that leave without MPI_Finalize, which the program
// skips (Debian's MPICH can hang there across nodes).
func untilInit(env []string, ranks int, argv []string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, "/"
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	began := time.Now()
	err := cmd.Run()
	seen := make([]bool, ranks)
	var last time.Time
	n := 0
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "init" {
			continue
		}
		r, err1 := strconv.Atoi(f[1])
		sec, nsec, ok := strings.Cut(f[2], ".")
		s, err2 := strconv.ParseInt(sec, 10, 64)
		ns, err3 := strconv.ParseInt(nsec, 10, 64)
		if err1 != nil || !ok || err2 != nil || err3 != nil || r < 0 || r >= ranks || seen[r] {
			return 0, fmt.Errorf("bad line %q", sc.Text())
		}
		seen[r] = true
		n++
		if t := time.Unix(s, ns); t.After(last) {
			last = t
		}
	}
	if n != ranks {
		return 0, fmt.Errorf("%d of %d ranks passed MPI_Init (%v); stderr:\n%s", n, ranks, err, clipTail(errb.String(), 2000))
	}
	return last.Sub(began), nil
}

func clipTail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// mpichVersion is what mpichversion says, or "?".
func mpichVersion() string {
	out, err := exec.Command("mpichversion").Output()
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "MPICH Version:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
