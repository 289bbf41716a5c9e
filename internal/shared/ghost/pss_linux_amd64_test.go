package ghost

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkGhostPSS starts 1,000 ghosts, each connected to a listener
// here and past its first relayed signal (so in its steady state), and
// reports what one costs: PSS (smaps_rollup), RSS and page tables
// (VmPTE), each address space counted once and shared out among the
// ghosts in it. ns/op is the time to start and greet the 1,000.
// exec: each ghost is exec'd (a Group of its own), as every ghost was
// before groups; group: the 1,000 are one Group, as a job's ghosts are.
//
//	go test -run '^$' -bench GhostPSS -benchtime 3x ./internal/shared/ghost
func BenchmarkGhostPSS(b *testing.B) {
	b.Run("exec", func(b *testing.B) { benchmarkGhostPSS(b, false) })
	b.Run("group", func(b *testing.B) { benchmarkGhostPSS(b, true) })
}

func benchmarkGhostPSS(b *testing.B, shared bool) {
	const n = 1000
	ln := listen(b)
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	files := [3]*os.File{devnull, devnull, devnull}

	var pss, rss, pte, rounds float64
	for b.Loop() {
		procs := make([]*proc, n)
		conns := make([]*net.UnixConn, n)
		byToken := make(map[Token]int, n)
		g := &Group{Argv: []string{"ghost-bench", "x"}, Socket: ln.Addr().String()}
		for i := range n {
			tok := newToken(b)
			byToken[tok] = i
			if !shared {
				g.Close()
				g = &Group{Argv: g.Argv, Socket: g.Socket}
			}
			procs[i] = startIn(b, g, tok, files)
		}
		g.Close()
		for range n {
			c, h := accept(b, ln)
			h.Close()
			i, ok := byToken[h.Token]
			if !ok || conns[i] != nil {
				b.Fatalf("hello with unknown or reused token %v", h.Token)
			}
			conns[i] = c
		}
		b.StopTimer()

		// One relayed signal each: every ghost is in its loop and has
		// run the whole relay path once.
		for i, p := range procs {
			syscall.Kill(p.pid, syscall.SIGUSR1)
			if typ, arg, err := ReadEvent(conns[i]); err != nil || typ != EventSignal || arg != uint32(syscall.SIGUSR1) {
				b.Fatalf("ghost %d: ReadEvent = %d, %d, %v, want SIGUSR1", p.pid, typ, arg, err)
			}
		}
		for _, run := range byAddressSpace(b, procs) {
			pss += procKB(b, fmt.Sprintf("/proc/%d/smaps_rollup", run[0].pid), "Pss:")
			rss += procKB(b, fmt.Sprintf("/proc/%d/smaps_rollup", run[0].pid), "Rss:")
			pte += procKB(b, fmt.Sprintf("/proc/%d/status", run[0].pid), "VmPTE:")
		}
		rounds++

		// The master goes away: every ghost must die by SIGKILL.
		for _, c := range conns {
			c.Close()
		}
		for _, p := range procs {
			if ws := p.wait(b, 0); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				b.Errorf("ghost %d: wait status %#x, want killed by SIGKILL", p.pid, uint32(ws))
			}
		}
		b.StartTimer()
	}
	per := 1024 / (rounds * n) // kB summed over rounds*n ghosts -> bytes per ghost
	b.ReportMetric(pss*per, "PSS-B/ghost")
	b.ReportMetric(rss*per, "RSS-B/ghost")
	b.ReportMetric(pte*per, "VmPTE-B/ghost")
}

// byAddressSpace sorts procs into runs that share an address space.
func byAddressSpace(t testing.TB, procs []*proc) [][]*proc {
	t.Helper()
	sorted := slices.Clone(procs)
	var err error
	slices.SortFunc(sorted, func(a, b *proc) int {
		c, e := CompareMemory(a.pid, b.pid)
		if e != nil && err == nil {
			err = e
		}
		return c
	})
	if err != nil {
		t.Fatal(err)
	}
	var runs [][]*proc
	for i, p := range sorted {
		if i == 0 || !kcmpVM(t, sorted[i-1].pid, p.pid) {
			runs = append(runs, nil)
		}
		runs[len(runs)-1] = append(runs[len(runs)-1], p)
	}
	return runs
}

// BenchmarkStart reports what starting a ghost costs: exec'd (every
// ghost a Group of its own), or a sibling in one Group. us/ghost is the
// caller's wall-clock time per Start, cpu-us/ghost the caller's CPU time,
// ghost-cpu-us/ghost the ghosts' own (for a Group, the template's clones
// are in it), up to their connect. Each round has a listener of its own,
// whose backlog (somaxconn, 4,096 here) takes the round's connections
// unaccepted: a full one would hold a template in its connect.
//
//	go test -run '^$' -bench 'Start$' -benchtime 10x -count 5 ./internal/shared/ghost
func BenchmarkStart(b *testing.B) {
	for _, shared := range []bool{false, true} {
		name := map[bool]string{false: "exec", true: "group"}[shared]
		b.Run(name, func(b *testing.B) {
			const n = 200
			dir := b.TempDir()
			var took time.Duration
			var cpu, ghostCPU, ghosts float64
			for b.Loop() {
				b.StopTimer()
				sock := filepath.Join(dir, "m.sock")
				ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
				if err != nil {
					b.Fatal(err)
				}
				g := &Group{Argv: []string{"ghost-bench"}, Socket: sock}
				procs := make([]*proc, 0, n)
				var before, after syscall.Rusage
				syscall.Getrusage(syscall.RUSAGE_SELF, &before)
				began := time.Now()
				b.StartTimer()
				for range n {
					if !shared {
						g.Close()
						g = &Group{Argv: g.Argv, Socket: g.Socket}
					}
					pid, err := g.Start(Token{}, [3]*os.File{})
					if err != nil {
						b.Fatal(err)
					}
					procs = append(procs, &proc{pid: pid})
				}
				b.StopTimer()
				took += time.Since(began)
				syscall.Getrusage(syscall.RUSAGE_SELF, &after)
				cpu += cpuMicros(after) - cpuMicros(before)
				ghosts += n
				g.Close()
				time.Sleep(50 * time.Millisecond) // let the last ones connect
				syscall.Getrusage(syscall.RUSAGE_CHILDREN, &before)
				for _, p := range procs {
					syscall.Kill(p.pid, syscall.SIGKILL)
					p.wait(b, 0)
				}
				syscall.Getrusage(syscall.RUSAGE_CHILDREN, &after)
				ghostCPU += cpuMicros(after) - cpuMicros(before)
				ln.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(took.Microseconds())/ghosts, "us/ghost")
			b.ReportMetric(cpu/ghosts, "cpu-us/ghost")
			b.ReportMetric(ghostCPU/ghosts, "ghost-cpu-us/ghost")
		})
	}
}

func cpuMicros(r syscall.Rusage) float64 {
	return float64(r.Utime.Nano()+r.Stime.Nano()) / 1e3
}

// procKB returns the value, in kB, of the line starting with key in a
// /proc file of "Key:   N kB" lines.
func procKB(t testing.TB, path, key string) float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				t.Fatalf("%s: %s: %v", path, key, err)
			}
			return v
		}
	}
	t.Fatalf("%s: no %s line", path, key)
	return 0
}
