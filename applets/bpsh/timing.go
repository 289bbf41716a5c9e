package bpsh

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"
)

// timing is what BPROC_TIMING=1 shows on stderr when bpsh ends: where the
// time of a run went, from the start of main (with the CPU the process
// had used before it: the runtime's and the packages' initialisation) to
// the exit status. Set once, read once; a nil timing does nothing.
type timing struct {
	start  time.Time
	before time.Duration // CPU time used before main
	marks  []mark
}

type mark struct {
	what string
	at   time.Time
}

// startTiming is nil unless $BPROC_TIMING is set and not "0".
func startTiming() *timing {
	if v := os.Getenv("BPROC_TIMING"); v == "" || v == "0" {
		return nil
	}
	t := &timing{start: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		t.before = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return t
}

// mark records that the run reached what.
func (t *timing) mark(what string) {
	if t != nil {
		t.marks = append(t.marks, mark{what, time.Now()})
	}
}

// report writes one line: each step's milliseconds since the one before.
func (t *timing) report(w io.Writer) {
	if t == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "bpsh: timing: cpu before main %.2f ms", ms(t.before))
	prev := t.start
	for _, m := range t.marks {
		fmt.Fprintf(&b, ", %s +%.2f", m.what, ms(m.at.Sub(prev)))
		prev = m.at
	}
	fmt.Fprintf(&b, ", total %.2f ms since main\n", ms(prev.Sub(t.start)))
	io.WriteString(w, b.String())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
