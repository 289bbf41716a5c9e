package spawn

import (
	"os"
	"os/exec"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkStartWait measures starting /bin/true and collecting its status,
// with spawn.Start, a Reaper and os/exec, in this process (PID 0: any PID).
// A fork without CLONE_VM copies the page tables, so its cost grows with
// the parent's memory; with CLONE_VM|CLONE_VFORK (Start on amd64 and arm64,
// and os/exec) it does not. The heap sub-benchmarks show the difference.
func BenchmarkStartWait(b *testing.B) {
	if os.Getuid() != 0 {
		b.Skip("needs root: Start always sets the credentials")
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	files := []int{int(null.Fd()), int(null.Fd()), int(null.Fd())}
	a := Attr{Path: "/bin/true", Files: files}

	for _, heap := range []int{0, 256 << 20} {
		ballast := make([]byte, heap)
		for i := 0; i < len(ballast); i += os.Getpagesize() {
			ballast[i] = 1 // map every page
		}
		name := "heap=0"
		if heap > 0 {
			name = "heap=256MiB"
		}
		b.Run(name+"/spawn.Start", func(b *testing.B) {
			for b.Loop() {
				pid, pidfd, err := Start(a)
				if err != nil {
					b.Fatal(err)
				}
				var ws unix.WaitStatus
				if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws != 0 {
					b.Fatalf("wait4: %v, status %#x", err, ws)
				}
				unix.Close(pidfd)
			}
			reportMicros(b)
		})
		b.Run(name+"/Reaper.Start", func(b *testing.B) {
			r := NewReaper()
			defer r.Close()
			for b.Loop() {
				_, done, err := r.Start(a)
				if err != nil {
					b.Fatal(err)
				}
				if ws := <-done; ws != 0 {
					b.Fatalf("status %#x", ws)
				}
			}
			reportMicros(b)
		})
		b.Run(name+"/os-exec", func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command("/bin/true")
				cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
			}
			reportMicros(b)
		})
		runtime.KeepAlive(ballast)
	}
}

func reportMicros(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e3, "µs/op")
}
