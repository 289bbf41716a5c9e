package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/apiclient"
)

// The load of BenchmarkSpaceMaster: a first few descendants on a fresh
// master, then enough for a slope on a warm one, and as many short forks
// after they have all ended.
const (
	spaceMasterFirst = 200
	spaceMasterLive  = 2000
	spaceMasterShort = 2000
)

// BenchmarkSpaceMaster weighs what bpmaster holds per descendant ghost
// (anonymous memory + page tables of the master alone; the ghosts are
// BenchmarkSpaceMemory's), on a master of its own: the first 200 on the
// fresh master, then from 1,000 to 2,000 live (forked subshells of remote
// shells, blocked in read), the figure a long-running master pays per
// more; then, once all have ended at once, whether it gave their memory
// back, and whether short forks one after the other (each ended before
// the next) grow it: 2,000 of them, then 2,000 more, the growth over
// the second 2,000 being the leak check.
//
// With BPROC_PROFILE_DIR set and a bpmaster built with -tags
// bprocprofile, the master writes its heap profile and memory statistics
// there at each step (see BenchmarkMasterMemory).
func BenchmarkSpaceMaster(b *testing.B) {
	needRoot(b)
	bin := binary(b)
	roomForProcs(b, 2*spaceMasterLive)
	openFiles(b, 1<<16)
	c, err := StartCluster(bin, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := c.Stop(); err != nil {
			b.Error(err)
		}
	})
	pid := c.master.Process.Pid
	// Its own: what it shares of its binary's pages with bpslave
	// moves its PSS as either touches more of them.
	total := func(m memory) float64 { return m.anon + m.pte }
	fresh := settledMemory(b, c, pid, "space-0")
	var shells []*forkedShell
	defer func() {
		for _, s := range shells {
			s.kill()
		}
	}()
	levels := map[int]memory{}
	for _, n := range []int{spaceMasterFirst, spaceMasterLive/2 - spaceMasterFirst, spaceMasterLive / 2} {
		s, err := startForkedShell(c, forkedScript(n), n)
		if s != nil {
			shells = append(shells, s)
		}
		if err != nil {
			b.Fatal(err)
		}
		live := 0
		for _, s := range shells {
			live += len(s.ghosts)
		}
		levels[live] = settledMemory(b, c, pid, fmt.Sprintf("space-%d", live))
	}
	live := total(levels[spaceMasterLive])
	peakLive, err := peakKB(pid)
	if err != nil {
		b.Fatal(err)
	}
	// All at once, as a killed job's tree or a parallel make ends.
	for _, s := range shells {
		s.stdin.Close()
	}
	for _, s := range shells {
		if err := s.end(); err != nil {
			b.Fatal(err)
		}
	}
	shells = nil
	if err := noProcs(c.Socket, 2*time.Minute); err != nil {
		b.Fatal(err)
	}
	peakEnd, err := peakKB(pid)
	if err != nil {
		b.Fatal(err)
	}
	// What the master holds once they are gone: what their end left
	// (its heap's goal is lowered, and the rest given back, at its next
	// collections: the short forks' allocations bring them).
	ended := settledMemory(b, c, pid, "space-ended")
	var afterShort [2]memory
	for i := range afterShort {
		if err := shortForks(c, spaceMasterShort); err != nil {
			b.Fatal(err)
		}
		afterShort[i] = stableMemory(b, c, pid, fmt.Sprintf("space-short-%d", i+1))
	}

	first := (total(levels[spaceMasterFirst]) - total(fresh)) / spaceMasterFirst
	warm := (live - total(levels[spaceMasterLive/2])) / (spaceMasterLive / 2)
	perShort := (total(afterShort[1]) - total(afterShort[0])) / spaceMasterShort
	report.Add("bpmaster per descendant ghost, first 200 on a fresh master", "kB", []float64{first}, Goal{})
	row := report.Add(fmt.Sprintf("bpmaster per descendant ghost, warm (%s to %s live)", thousands(spaceMasterLive/2), thousands(spaceMasterLive)), "kB", []float64{warm}, AtMost(10, "kB"))
	b.ReportMetric(row.Summary.Median, "kB/descendant")
	report.Add("bpmaster: anonymous memory + page tables, fresh", "MB", []float64{mb(total(fresh))}, Goal{})
	report.Add(fmt.Sprintf("bpmaster: anonymous memory + page tables, %s descendants live", thousands(spaceMasterLive)), "MB", []float64{mb(live)}, Goal{})
	report.Add(fmt.Sprintf("bpmaster: peak RSS while the %s end at once, over the peak before", thousands(spaceMasterLive)), "MB", []float64{mb(float64(peakEnd - peakLive))}, Goal{})
	report.Add(fmt.Sprintf("bpmaster: anonymous memory + page tables, all %s ended", thousands(spaceMasterLive)), "MB", []float64{mb(total(ended))}, Goal{})
	report.Add(fmt.Sprintf("bpmaster: anonymous memory + page tables, all ended, then %s short forks", thousands(spaceMasterShort)), "MB", []float64{mb(total(afterShort[0]))}, Goal{})
	row = report.Add(fmt.Sprintf("bpmaster growth per short fork (%s more, each ended before the next)", thousands(spaceMasterShort)), "kB", []float64{perShort}, AtMost(0.5, "kB"))
	b.ReportMetric(row.Summary.Median, "kB/short-fork")
	b.ReportMetric(first, "kB/first-descendant")
}

// shortForks runs a remote sh that forks n subshells one after the
// other, each ended before the next, and waits for their ghosts to be
// gone from the master's table.
func shortForks(c *Cluster, n int) error {
	cmd := exec.Command(c.Applet("bpsh"), "0", "/bin/sh", "-c", fmt.Sprintf(`for i in $(seq %d); do ( : ); done`, n))
	cmd.Env, cmd.Dir = c.Env(), "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%d short forks: %w: %s", n, err, out)
	}
	return noProcs(c.Socket, time.Minute)
}

// stableMemory is the master's memory once it holds still
// (its heap's scavenger gives back what a burst took, a few MB a second),
// and its profile, if it writes one.
func stableMemory(b *testing.B, c *Cluster, pid int, step string) memory {
	b.Helper()
	last, err := processMemory(pid)
	if err != nil {
		b.Fatal(err)
	}
	for still, deadline := 0, time.Now().Add(time.Minute); still < 3 && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		m, err := processMemory(pid)
		if err != nil {
			b.Fatal(err)
		}
		if math.Abs(m.anon-last.anon) < 64 {
			still++
		} else {
			still = 0
		}
		last = m
	}
	return settledMemory(b, c, pid, step)
}

// peakKB is a process's peak resident set so far (VmHWM), in kB.
func peakKB(pid int) (int, error) {
	v, err := readProcField(fmt.Sprintf("/proc/%d/status", pid), "VmHWM:")
	return int(v), err
}

// forkedShell is a remote sh whose children are forked subshells that
// block reading its stdin until end closes it.
type forkedShell struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	ghosts []int
	waited bool // cmd.Wait has returned
}

// forkedScript is a remote sh script whose n children are forked
// subshells blocked reading its stdin.
func forkedScript(n int) string {
	return fmt.Sprintf(`exec 3<&0; for i in $(seq %d); do (read x <&3) & done; echo ready; wait`, n)
}

// startForkedShell starts a remote sh running script, which says ready
// once it has started its n children, and waits for their ghosts; on
// error the caller still kills what it returns.
func startForkedShell(c *Cluster, script string, n int) (*forkedShell, error) {
	cmd := exec.Command(c.Applet("bpsh"), "0", "/bin/sh", "-c", script)
	cmd.Env, cmd.Dir = c.Env(), "/"
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &forkedShell{cmd: cmd, stdin: stdin}
	if l, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(l) != "ready" {
		return s, fmt.Errorf("the remote shell said %q", l)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if s.ghosts = descendantGhosts(cmd.Process.Pid); len(s.ghosts) == n {
			break
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("%d of %d descendant ghosts after 2 min", len(s.ghosts), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, g := range s.ghosts { // each past its relay path once, as a job's in BenchmarkMasterMemory
		syscall.Kill(g, syscall.SIGCONT)
	}
	return s, nil
}

// end lets the children read EOF and the shell end as it would.
func (s *forkedShell) end() error {
	s.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		s.waited = true
		if err != nil {
			return fmt.Errorf("remote shell: %w", err)
		}
		return nil
	case <-time.After(2 * time.Minute):
		s.signal(syscall.SIGKILL)
		<-done
		s.waited = true
		return fmt.Errorf("remote shell not done 2 min after its stdin closed")
	}
}

// kill ends the shell and its children, by their ghosts, if end has not.
func (s *forkedShell) kill() {
	if s.waited {
		return
	}
	s.signal(syscall.SIGKILL)
	s.stdin.Close()
	s.cmd.Wait()
	s.waited = true
}

func (s *forkedShell) signal(sig syscall.Signal) {
	for _, g := range s.ghosts {
		syscall.Kill(g, sig)
	}
	s.cmd.Process.Signal(sig)
}

// descendantGhosts is the ghosts of the children of the remote process
// that bpsh (pid bpsh) started: the children of its ghost, bpsh's child.
// Read from /proc, not the master's table: asking the master for it
// every few ms would fill its heap with the answers, the measurement's
// garbage and not the master's (it made "19 kB per descendant" of 9).
func descendantGhosts(bpsh int) []int {
	var out []int
	for _, top := range children(bpsh) {
		out = append(out, children(top)...)
	}
	return out
}

// noProcs waits for the master's table to be empty.
func noProcs(socket string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		cl, err := apiclient.Dial(socket)
		if err != nil {
			return err
		}
		procs, err := cl.Procs()
		cl.Close()
		if err == nil && len(procs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the master still has %d processes %v after the end (%v)", len(procs), timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
