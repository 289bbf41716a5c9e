package ghost

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// BenchmarkGhostPSS starts 1,000 ghosts, each connected to a listener
// here and past its first relayed signal (so in its steady state), and
// reports what one costs: PSS (smaps_rollup), RSS and page tables
// (VmPTE). ns/op is the time to start and greet the 1,000.
//
//	go test -run '^$' -bench GhostPSS -benchtime 3x ./ghost
func BenchmarkGhostPSS(b *testing.B) {
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
		for i := range n {
			tok := newToken(b)
			byToken[tok] = i
			procs[i] = start(b, attr{Argv: []string{"ghost-bench", "x"}, Socket: ln.Addr().String(), Token: tok, Files: files})
		}
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
		for _, p := range procs {
			pss += procKB(b, fmt.Sprintf("/proc/%d/smaps_rollup", p.pid), "Pss:")
			rss += procKB(b, fmt.Sprintf("/proc/%d/smaps_rollup", p.pid), "Rss:")
			pte += procKB(b, fmt.Sprintf("/proc/%d/status", p.pid), "VmPTE:")
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
