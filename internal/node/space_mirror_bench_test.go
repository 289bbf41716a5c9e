//go:build amd64

package node

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/spawn"
)

// BenchmarkSpaceExec measures what the mirroring of execs costs a process
// on the node: a shell script that execs itself b.N times, started under
// the space's filter with the supervisor answering (each exec notified,
// its state read before and watched after), beside the same chain with no
// filter. The ghost's side (its re-exec on the master) is
// ghost.BenchmarkExec; with no master here nothing is sent.
func BenchmarkSpaceExec(b *testing.B) {
	if os.Getuid() != 0 {
		b.Skip("needs root: spawn sets credentials")
	}
	dir := b.TempDir()
	chain := filepath.Join(dir, "chain")
	if err := os.WriteFile(chain, []byte("#!/bin/sh\n[ \"$1\" -gt 0 ] && exec "+chain+" $(($1-1))\nexit 0\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, filtered bool) {
		sp := &space{s: &Slave{log: slog.New(slog.DiscardHandler)}, on: true, tracked: map[int]*tracked{}}
		attr := spawn.Attr{Path: chain, Argv: []string{chain, fmt.Sprint(b.N)}, Files: []int{-1, -1, 2}}
		serve := func(bool) {}
		if filtered {
			serve = sp.withFilter(&attr)
		}
		var before, after unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &before)
		b.ResetTimer()
		start := time.Now()
		pid, pidfd, err := spawn.Start(attr)
		serve(err == nil)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(pidfd)
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
			b.Fatalf("chain: %v %#x", err, ws)
		}
		wall := time.Since(start)
		// Give the last watch its end, then count what the supervisor spent.
		time.Sleep(50 * time.Millisecond)
		unix.Getrusage(unix.RUSAGE_SELF, &after)
		cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
		b.ReportMetric(float64(wall.Microseconds())/float64(b.N), "µs/exec")
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "supervisor-µs/exec")
	}
	b.Run("filtered", func(b *testing.B) { run(b, true) })
	b.Run("plain", func(b *testing.B) { run(b, false) })
}
