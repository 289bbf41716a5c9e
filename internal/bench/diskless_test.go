package bench

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"testing"

	"github.com/bproc/bproc/internal/shared/apiclient"
)

// BenchmarkDiskless runs the master's programs on diskless nodes (their
// view of the master's files) on 1, 4 and 16 fresh nodes at once: python3
// -c pass and a 50 MB program, first run (nothing cached on the nodes) and
// second, with the bytes the master sent the nodes for each. The issue's
// goal for the 50 MB program on 16 nodes is at most 4x its size from the
// master (nodes serving each other).
func BenchmarkDiskless(b *testing.B) {
	needRoot(b)
	bin := binary(b)
	dir, err := os.MkdirTemp("/var/lib", "bproc-bench-") // nodes have /var/lib, not /tmp
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	big := filepath.Join(dir, "big")
	if err := bigProgram(big, 50<<20); err != nil {
		b.Fatal(err)
	}
	python := "/usr/bin/python3"
	local := timeIt(func() error { return exec.Command(python, "-c", "pass").Run() })
	report.Add("python3 -c pass, here", "ms", []float64{local}, Goal{})
	report.Add("50 MB program, here", "ms", []float64{timeIt(func() error { return exec.Command(big).Run() })}, Goal{})

	for range b.N {
		for _, n := range []int{1, 4, 16} {
			c, err := StartCluster(bin, n, "--diskless")
			if err != nil {
				b.Fatal(err)
			}
			spec := fmt.Sprintf("0-%d", n-1)
			if n == 1 {
				spec = "0"
			}
			for _, prog := range []struct {
				what string
				argv []string
				goal Goal
			}{
				{"python3 -c pass", []string{python, "-c", "pass"}, Goal{}},
				{"50 MB program", []string{big}, Goal{}},
			} {
				for _, run := range []string{"first", "second"} {
					before, err := sentBytes(c)
					if err != nil {
						b.Fatal(err)
					}
					ms := timeIt(func() error {
						cmd := exec.Command(c.Applet("bpsh"), append([]string{spec}, prog.argv...)...)
						cmd.Env, cmd.Dir = c.Env(), "/"
						if out, err := cmd.CombinedOutput(); err != nil {
							return fmt.Errorf("bpsh %s %v: %v\n%s", spec, prog.argv, err, out)
						}
						return nil
					})
					if ms < 0 {
						c.Stop()
						b.Fatal("run failed")
					}
					after, err := sentBytes(c)
					if err != nil {
						b.Fatal(err)
					}
					report.Add(fmt.Sprintf("%s on %d diskless nodes, %s run", prog.what, n, run), "ms", []float64{ms}, Goal{})
					goal := Goal{}
					if prog.what == "50 MB program" && n == 16 && run == "first" {
						goal = AtMost(4*50, "MB")
					}
					report.Add(fmt.Sprintf("  master bytes sent for %s (%d nodes, %s run)", prog.what, n, run), "MB",
						[]float64{float64(after-before) / (1 << 20)}, goal)
				}
			}
			if err := c.Stop(); err != nil {
				b.Fatal(err)
			}
		}
	}
	report.Note("diskless: fresh local --diskless nodes for each count; bytes are what the master's file service read for the nodes (bpstat --json files_sent)")
}

// timeIt runs fn and returns its time in milliseconds, or -1 when it
// failed (after printing why).
func timeIt(fn func() error) float64 {
	began := time.Now()
	if err := fn(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return -1
	}
	return float64(time.Since(began).Microseconds()) / 1000
}

// sentBytes is the master's file bytes sent to all nodes so far.
func sentBytes(c *Cluster) (int64, error) {
	cl, err := apiclient.Dial(c.Socket)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	nodes, err := cl.Nodes()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, n := range nodes {
		total += n.FilesSent
	}
	return total, nil
}

// bigProgram writes /bin/true followed by size bytes of random data: a
// program that runs (the loader maps only its segments) and whose file is
// that large.
func bigProgram(path string, size int64) error {
	t, err := os.ReadFile("/bin/true")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := f.Write(t); err != nil {
		f.Close()
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
