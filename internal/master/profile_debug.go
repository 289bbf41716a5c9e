//go:build bprocprofile

package master

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"syscall"
)

// A master built with -tags bprocprofile writes its heap and goroutine
// profiles and memory statistics into $BPROC_PROFILE_DIR on SIGUSR2: how
// its memory per remote process is measured (bench's
// BenchmarkMasterMemory). Only a debug build has it, and only whoever may
// signal the master (root) can ask: no endpoint, nothing to authenticate.
func init() {
	dir := os.Getenv("BPROC_PROFILE_DIR")
	if dir == "" {
		return
	}
	// Every 512th byte sampled, not every 512 kB: a process's few kB
	// must show in the profile.
	cpu := startCPUProfile(dir)
	if cpu == nil { // a sample's stack walk would show in the CPU profile
		runtime.MemProfileRate = 512
	}
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	go func() {
		for n := 0; ; n++ {
			<-usr2
			if cpu != nil { // the first signal ends the CPU profile
				pprof.StopCPUProfile()
				cpu.Close()
				cpu = nil
			}
			if err := writeProfiles(dir, n); err != nil {
				fmt.Fprintf(os.Stderr, "bpmaster: profile: %v\n", err)
			}
		}
	}()
}

// startCPUProfile starts a CPU profile of bpmaster (not of the other
// applets this binary runs) into dir/cpu.pprof when $BPROC_PROFILE_CPU
// is set: how the master's CPU per fork is read. The first SIGUSR2 ends
// it.
func startCPUProfile(dir string) *os.File {
	master := filepath.Base(os.Args[0]) == "bpmaster" || len(os.Args) > 1 && os.Args[1] == "bpmaster"
	if os.Getenv("BPROC_PROFILE_CPU") == "" || !master {
		return nil
	}
	f, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bpmaster: cpu profile: %v\n", err)
		return nil
	}
	return f
}

// writeProfiles writes heap-N.pprof, goroutine-N.txt and mem-N.txt (the
// runtime's counts, after a collection) into dir, then done-N.
func writeProfiles(dir string, n int) error {
	runtime.GC()
	write := func(name string, f func(*os.File) error) error {
		out, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d", name, n)))
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		if err := f(out); err != nil {
			out.Close()
			return fmt.Errorf("write %s: %w", name, err)
		}
		return out.Close()
	}
	if err := write("heap.pprof", func(f *os.File) error { return pprof.Lookup("heap").WriteTo(f, 0) }); err != nil {
		return err
	}
	if err := write("goroutine.txt", func(f *os.File) error { return pprof.Lookup("goroutine").WriteTo(f, 1) }); err != nil {
		return err
	}
	if err := write("mem.txt", func(f *os.File) error {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		_, err := fmt.Fprintf(f, "goroutines %d\nheap_alloc %d\nheap_inuse %d\nheap_idle %d\nheap_released %d\nstack_inuse %d\nsys %d\nnum_gc %d\n",
			runtime.NumGoroutine(), ms.HeapAlloc, ms.HeapInuse, ms.HeapIdle, ms.HeapReleased, ms.StackInuse, ms.Sys, ms.NumGC)
		if err != nil {
			return err
		}
		// Each collection halves the stacks that use under a quarter
		// of theirs: what an idle master's would come to in time.
		for range 4 {
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		_, err = fmt.Fprintf(f, "stack_inuse_after_4_gc %d\n", ms.StackInuse)
		if err != nil {
			return err
		}
		// What the stacks use of what they hold (StackInuse keeps the
		// spans of a burst's dead goroutines), the size a new
		// goroutine's stack starts at (the runtime's average of those
		// it scans), and the runtime's own memory (with this build's
		// MemProfileRate, "other" holds a record per sampled object).
		samples := []metrics.Sample{{Name: "/gc/scan/stack:bytes"}, {Name: "/gc/stack/starting-size:bytes"}, {Name: "/memory/classes/other:bytes"}, {Name: "/memory/classes/metadata/other:bytes"}}
		metrics.Read(samples)
		for _, s := range samples {
			if s.Value.Kind() == metrics.KindUint64 {
				if _, err := fmt.Fprintf(f, "%s %d\n", s.Name, s.Value.Uint64()); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return write("done", func(*os.File) error { return nil })
}
