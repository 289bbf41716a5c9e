package bproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bproc/bproc/internal/shared/wire"
)

// Command is what a job runs on each of its nodes. Each rank's process
// gets $BPROC_RANK (0000000, 0000001, ...) and $BPROC_NODE besides Env.
type Command struct {
	// Path is the program: an absolute path, or a name that Start looks
	// up in the caller's $PATH. The node runs the master's file.
	Path string
	Args []string // its argv, Args[0] its name; nil: {Path}
	Env  []string // nil: the caller's environment
	Dir  string   // "": the caller's working directory

	// Stdin, Stdout and Stderr are each rank's fds 0, 1 and 2: its ghost
	// holds them, and the master relays between them and the process.
	// nil: /dev/null. Start leaves them open; close them after it.
	Stdin, Stdout, Stderr *os.File
	// NoIO gives the processes /dev/null of the node as fds 0, 1 and 2:
	// nothing is relayed (bpsh -N).
	NoIO bool
	// Detach lets the processes outlive the Job's Close and the calling
	// program; without it they are killed then.
	Detach bool
}

// wire is the command as the master takes it.
func (cmd Command) wire() (wire.Command, error) {
	path := cmd.Path
	if path == "" {
		return wire.Command{}, fmt.Errorf("command: no path")
	}
	if !strings.Contains(path, "/") {
		p, err := exec.LookPath(path)
		if err != nil {
			return wire.Command{}, fmt.Errorf("command: %w", err)
		}
		path = p
	}
	args := cmd.Args
	if len(args) == 0 {
		args = []string{cmd.Path}
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	dir := cmd.Dir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return wire.Command{}, fmt.Errorf("command: working directory: %w", err)
		}
		dir = wd
	}
	path, err := filepath.Abs(path) // exec.LookPath may answer ./prog
	if err != nil {
		return wire.Command{}, fmt.Errorf("command: %w", err)
	}
	w := wire.Command{Path: path, Argv: args, Env: env, Dir: dir, NoIO: cmd.NoIO}
	if err := w.Validate(); err != nil {
		return wire.Command{}, fmt.Errorf("command: %w", err)
	}
	return w, nil
}
