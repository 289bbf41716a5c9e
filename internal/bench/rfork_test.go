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
	root, err := filepath.Abs("..")
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
		row = report.Add("bproc_vrfork to 16 nodes, 1 MB", "ms", small["vrfork"], Goal{})
		b.ReportMetric(row.Summary.Median, "ms/vrfork-16")
		row = report.Add("bproc_vrfork to 16 nodes, 100 MB", "ms", big["vrfork"], Goal{})
		b.ReportMetric(row.Summary.Median, "ms/vrfork-16-100MB")
		report.Note("rfork: the parent's time from the call to its return, %d local nodes on this machine", 16)
	}
}
