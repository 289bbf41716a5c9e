//go:build amd64

package node

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/spawn"
)

// BenchmarkSpaceThreadExit measures what notifying exit costs a program
// on the node: python3 starting and joining b.N threads one after the
// other (each thread's end is an exit the supervisor answers), under
// the space's filter and without it.
func BenchmarkSpaceThreadExit(b *testing.B) {
	if os.Getuid() != 0 {
		b.Skip("needs root: spawn sets credentials")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("needs python3")
	}
	script := "import sys, threading\nfor i in range(int(sys.argv[1])):\n    t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
	run := func(b *testing.B, filtered bool) {
		sp := &space{s: &Slave{log: slog.New(slog.DiscardHandler)}, on: true, tracked: map[int]*tracked{}}
		attr := spawn.Attr{Path: py, Argv: []string{py, "-c", script, fmt.Sprint(b.N)}, Files: []int{-1, -1, 2}}
		serve := func(bool) {}
		if filtered {
			serve = sp.withFilter(&attr)
		}
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
			b.Fatalf("python3: %v %#x", err, ws)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/thread")
	}
	b.Run("filtered", func(b *testing.B) { run(b, true) })
	b.Run("plain", func(b *testing.B) { run(b, false) })
}
