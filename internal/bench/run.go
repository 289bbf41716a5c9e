package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Timer runs one command again and again and times each run from fork to
// reaped exit status, which is what a user or a script waits for.
// os.StartProcess rather than exec.Cmd, and /dev/null opened once: the
// harness's own cost is in every row, the floor included, and should be
// as small as can be.
type Timer struct {
	path string
	argv []string
	env  []string
	null *os.File
}

// NewTimer resolves argv[0] once, as a shell would hash it.
func NewTimer(env []string, argv ...string) (*Timer, error) {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("time %s: %w", argv[0], err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("time %s: %w", argv[0], err)
	}
	return &Timer{path: path, argv: argv, env: env, null: null}, nil
}

// Run runs the command once. A run that fails is an error, not a sample:
// a fast failure would flatter the median. The error carries what the
// command said, from a second, untimed run.
func (t *Timer) Run() (time.Duration, error) {
	attr := &os.ProcAttr{Env: t.env, Files: []*os.File{t.null, t.null, t.null}}
	start := time.Now()
	p, err := os.StartProcess(t.path, t.argv, attr)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", t, err)
	}
	st, err := p.Wait()
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("wait for %s: %w", t, err)
	}
	if !st.Success() {
		cmd := exec.Command(t.path, t.argv[1:]...)
		cmd.Env = t.env
		out, _ := cmd.CombinedOutput()
		return 0, fmt.Errorf("%s: %v; again it said: %s", t, st, strings.TrimSpace(string(out)))
	}
	return took, nil
}

func (t *Timer) String() string { return strings.Join(t.argv, " ") }

// Close releases /dev/null.
func (t *Timer) Close() error { return t.null.Close() }

// InTurn runs each timer warmup+runs times, all of them once a round in
// an order that rotates, so whatever else the machine does falls on all
// of them alike. took[i] is timer i's runs after the warm-up rounds,
// round by round (so took[i][k] and took[j][k] were measured side by side).
func InTurn(timers []*Timer, warmup, runs int) (took [][]time.Duration, err error) {
	took = make([][]time.Duration, len(timers))
	for round := range warmup + runs {
		for i := range timers {
			k := (round + i) % len(timers)
			d, err := timers[k].Run()
			if err != nil {
				return took, fmt.Errorf("round %d: %w", round, err)
			}
			if round >= warmup {
				took[k] = append(took[k], d)
			}
		}
	}
	return took, nil
}

// seconds is durations in seconds, for rows read in s.
func seconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}
