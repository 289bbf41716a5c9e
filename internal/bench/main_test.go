package bench

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	runs    = flag.Int("runs", 300, "timed runs of each command in the startup rows")
	name    = flag.String("name", "", "name of the results file (default: the UTC date and time)")
	results = flag.String("results", "results", "directory the results file is written to")
)

// report is every benchmark's rows; TestMain prints and saves it once they
// have all run.
var report = &Report{}

// shared is what more than one benchmark uses: started by the first that
// needs it, stopped by TestMain, so that all rows of a run were measured
// against the same master.
var shared struct {
	mu         sync.Mutex // guards the fields below
	bin        string
	binErr     error
	cluster    *Cluster
	clusterErr error
	ssh        *SSHPeer
	sshErr     error
	sshTried   bool
	stops      []func() error // run newest first
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	// On ^C, stop what was started rather than leave a master, an sshd
	// and an extra account behind. (go test's -timeout panics instead;
	// then only Pdeathsig takes the daemons down.)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "bench: %v: stopping what was started\n", s)
		if err := teardown(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}()

	code := m.Run()
	if err := teardown(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: teardown:", err)
		code = 1
	}
	if report.Empty() {
		return code
	}
	report.Time = time.Now().UTC()
	report.Name = *name
	if report.Name == "" {
		report.Name = report.Time.Format("2006-01-02T150405Z")
	}
	report.Machine = ThisMachine()
	report.Commit = ThisCommit()
	fmt.Println()
	if err := report.Print(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench: print report:", err)
		return 1
	}
	path, err := report.Save(*results)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	fmt.Printf("results: %s\n", path)
	png := strings.TrimSuffix(path, ".json") + ".png"
	if ok, err := report.Plot(png); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	} else if ok {
		fmt.Printf("plot: %s\n", png)
	}
	svg := strings.TrimSuffix(path, ".json") + "-ratios.svg"
	if ok, err := report.PlotRatios(svg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	} else if ok {
		fmt.Printf("ratio plot: %s\n", svg)
	}
	return code
}

var teardownOnce = sync.OnceValue(func() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	var errs []error
	for i := len(shared.stops) - 1; i >= 0; i-- {
		if err := shared.stops[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
})

// teardown stops everything shared, once, whether the benchmarks ended or
// were interrupted.
func teardown() error { return teardownOnce() }

// notRoot says, once, why the benchmarks skip: go test shows a skipped
// benchmark's message only with -v.
var notRoot = sync.OnceFunc(func() {
	fmt.Println("bench: skipped: needs root, to start a bpmaster with namespace nodes; try sudo make bench")
})

// needRoot skips a benchmark that needs namespace nodes.
func needRoot(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		notRoot()
		b.Skip("needs root: the benchmarks start a bpmaster with namespace nodes")
	}
}

// binary is the bproc binary under test: $BPROC_BIN (make bench sets it),
// else one built for this run, with its bpsh symlink beside it.
func binary(b *testing.B) string {
	b.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.bin == "" && shared.binErr == nil {
		shared.bin, shared.binErr = findBinary()
	}
	if shared.binErr != nil {
		b.Fatal(shared.binErr)
	}
	return shared.bin
}

func findBinary() (string, error) {
	if bin := os.Getenv("BPROC_BIN"); bin != "" {
		if _, err := os.Stat(filepath.Join(filepath.Dir(bin), "bpsh")); err != nil {
			return "", fmt.Errorf("BPROC_BIN=%s: no bpsh symlink beside it (run make): %w", bin, err)
		}
		return bin, nil
	}
	dir, err := os.MkdirTemp("", "bproc-bench-bin-")
	if err != nil {
		return "", fmt.Errorf("build bproc: %w", err)
	}
	shared.stops = append(shared.stops, func() error { return os.RemoveAll(dir) })
	bin := filepath.Join(dir, "bproc")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "../..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build bproc: %w: %s", err, out)
	}
	for _, a := range []string{"bpmaster", "bpsh", "bpslave", "bpstat"} {
		if err := os.Symlink("bproc", filepath.Join(dir, a)); err != nil {
			return "", fmt.Errorf("build bproc: %w", err)
		}
	}
	return bin, nil
}

// cluster is the run's master, with one node: the startup rows need no
// more, and one node keeps the machine quiet while they are timed.
func cluster(b *testing.B) *Cluster {
	b.Helper()
	needRoot(b)
	bin := binary(b)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cluster == nil && shared.clusterErr == nil {
		shared.cluster, shared.clusterErr = StartCluster(bin, 1)
		if shared.clusterErr == nil {
			shared.stops = append(shared.stops, shared.cluster.Stop)
		}
	}
	if shared.clusterErr != nil {
		b.Fatal(shared.clusterErr)
	}
	return shared.cluster
}

// sshPeer is the run's sshd and ControlMaster, or why there is none; a
// benchmark goes on without its ssh rows then, and says so in the notes.
func sshPeer(b *testing.B) (*SSHPeer, error) {
	b.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.sshTried {
		shared.sshTried = true
		shared.ssh, shared.sshErr = StartSSHPeer(b.Logf)
		if shared.sshErr == nil {
			shared.stops = append(shared.stops, shared.ssh.Stop)
		}
	}
	return shared.ssh, shared.sshErr
}
