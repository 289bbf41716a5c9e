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
