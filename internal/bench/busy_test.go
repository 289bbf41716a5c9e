package bench

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The load of BenchmarkBusyMaster: busyRate processes a second, started in
// batches of busyBatch, for busyFor.
const (
	busyRate  = 1000
	busyBatch = 50
	busyFor   = 10 * time.Second
	busyNodes = 16
)

// BenchmarkBusyMaster times `bpstat` while the master starts and ends
// 1,000 processes a second (`true` on 16 local nodes through the Go API,
// in batches of 50 every 50 ms, each batch's ghosts reaped before it
// counts), and once on the same master at rest. The goal: bpstat answers
// in under 100 ms under that load.
func BenchmarkBusyMaster(b *testing.B) {
	needRoot(b)
	bin := binary(b)
	c := bigCluster(b, bin, busyNodes)
	bpstat, err := NewTimer(c.Env(), c.Applet("bpstat"))
	if err != nil {
		b.Fatal(err)
	}
	defer bpstat.Close()
	sample := func(n int, every time.Duration) []time.Duration {
		var took []time.Duration
		for range n {
			d, err := bpstat.Run()
			if err != nil {
				b.Fatal(err)
			}
			took = append(took, d)
			time.Sleep(every)
		}
		return took
	}
	idle := sample(50, 20*time.Millisecond)

	var done, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var load sync.WaitGroup
	began := time.Now()
	load.Go(func() {
		var batches sync.WaitGroup
		defer batches.Wait()
		inFlight := make(chan struct{}, 8) // a slow master is not buried under batches
		tick := time.NewTicker(time.Second * busyBatch / busyRate)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			select {
			case inFlight <- struct{}{}:
			default:
				continue // behind: the rate shows it
			}
			batches.Go(func() {
				defer func() { <-inFlight }()
				if _, err := launchAPI(c, busyBatch, "/bin/true"); err != nil {
					failed.Add(busyBatch)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				done.Add(busyBatch)
			})
		}
	})
	time.Sleep(time.Second) // the load at its pace before the first sample
	var busy []time.Duration
	for time.Since(began) < busyFor {
		busy = append(busy, sample(1, 50*time.Millisecond)...)
	}
	close(stop)
	load.Wait()
	elapsed := time.Since(began)
	if err, _ := firstErr.Load().(error); err != nil {
		b.Fatalf("load: %d processes failed, the first: %v%s", failed.Load(), err, masterErrors(c))
	}
	rate := float64(done.Load()) / elapsed.Seconds()

	report.Add(fmt.Sprintf("bpstat, master of %d nodes at rest", busyNodes), "ms", Millis(idle), Goal{})
	row := report.Add(fmt.Sprintf("bpstat while %d processes a second start and end", busyRate), "ms", Millis(busy), AtMost(100, "ms"))
	// Paced at busyRate, so at most that: a master that cannot keep up
	// shows as less.
	report.Add("  processes started and reaped a second during it", "/s", []float64{rate}, Goal{})
	slowest := Summarize(Millis(busy)).Max
	report.Note("busy master: %s processes in %.1f s (%.0f a second, asked for %d) on %d local nodes; bpstat sampled %d times under the load, the slowest %.1f ms",
		thousands(int(done.Load())), elapsed.Seconds(), rate, busyRate, busyNodes, len(busy), slowest)
	b.ReportMetric(row.Summary.Median, "ms-bpstat-busy")
}
