package bench

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkRfork times bproc_rfork from a C program for 1 MB and 100 MB of
// touched memory (BProc moved a process in 3 ms, 2002), and one
// bproc_vrfork to 16 nodes of each: read once, the image of 100 MB goes
// to the nodes through their views, which fetch it from each other. The time is the parent's, from the call to
// its return: the child runs on its node by then.
func BenchmarkRfork(b *testing.B) {
	needRoot(b)
	if _, err := exec.LookPath("gcc"); err != nil {
		b.Skip("needs gcc")
	}
	bin := binary(b)
	root, err := filepath.Abs("../..") // the repository, from internal/bench
	if err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("make", "-C", root, "bin/libbproc.a").CombinedOutput(); err != nil {
		b.Fatalf("make libbproc: %v\n%s", err, out)
	}
	// Nodes map the program from the master's files: outside /tmp.
	dir, err := os.MkdirTemp("/var/lib", "bproc-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	prog := filepath.Join(dir, "rforkbench")
	if out, err := exec.Command("gcc", "-O2", "-I", filepath.Join(root, "libbproc"), "-o", prog,
		"testdata/rforkbench.c", filepath.Join(root, "bin/libbproc.a")).CombinedOutput(); err != nil {
		b.Fatalf("gcc: %v\n%s", err, out)
	}
	c, err := StartCluster(bin, 16)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	run := func(args ...string) map[string][]float64 {
		cmd := exec.Command(prog, args...)
		cmd.Env = c.Env()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("rforkbench %v: %v\n%s", args, err, stderr.String())
		}
		got := map[string][]float64{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 2 {
				us, _ := strconv.ParseFloat(f[1], 64)
				got[f[0]] = append(got[f[0]], us/1000)
			}
		}
		return got
	}
	for range b.N {
		small := run("1", "21", "16")
		big := run("100", "5", "16")
		row := report.Add("bproc_rfork, 1 MB touched", "ms", small["rfork"], AtMost(3, "ms"))
		b.ReportMetric(row.Summary.Median, "ms/rfork-1MB")
		row = report.Add("bproc_rfork, 100 MB touched", "ms", big["rfork"], Goal{})
		b.ReportMetric(row.Summary.Median, "ms/rfork-100MB")
		peak := vmHWM(c.master.Process.Pid)
		for _, m := range []struct {
			size string
			got  map[string][]float64
		}{{"1 MB", small}, {"100 MB", big}} {
			report.Add("local fork, "+m.size+" touched (the floor)", "ms", m.got["fork"], Goal{})
			row = report.Add("bproc_move to a node, "+m.size+" touched", "ms", m.got["move"], Goal{})
			b.ReportMetric(row.Summary.Median, "ms/move-"+strings.ReplaceAll(m.size, " ", ""))
			report.Add("bproc_move back to the master, "+m.size+" touched", "ms", m.got["home"], Goal{})
		}
		// The image is streamed: the master holds a few MB of a process
		// it moves, not the process.
		row = report.Add("bpmaster peak RSS after the 100 MB moves", "MB", []float64{float64(peak) / (1 << 20)}, AtMost(100, "MB"))
		b.ReportMetric(row.Summary.Median, "MB-master-peak")
		row = report.Add("bproc_vrfork to 16 nodes, 1 MB", "ms", small["vrfork"], Goal{})
		b.ReportMetric(row.Summary.Median, "ms/vrfork-16")
		row = report.Add("bproc_vrfork to 16 nodes, 100 MB", "ms", big["vrfork"], Goal{})
		b.ReportMetric(row.Summary.Median, "ms/vrfork-16-100MB")
		report.Note("rfork: the parent's time from the call to its return; move: the child's, from the call to its return where it arrived; %d local nodes on this machine, --no-diskless (the master's files, no view)", 16)
	}
}

// vmHWM is a process's peak resident memory in bytes (0 when unknown).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
