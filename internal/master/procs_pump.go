package master

import (
	"errors"
	"io"
	"os"
	"syscall"

	"github.com/bproc/bproc/internal/shared/streamcopy"
	"github.com/bproc/bproc/internal/shared/wire"
)

// A live remote process costs the master what its relay holds while it
// waits, times every process (issue 6: 15,000 of them in 256 MB with their
// ghosts). So a stream that cannot carry anything gets no goroutine, and
// one that can holds a small buffer while it is quiet (streamcopy).

// outputStreams are the output streams a node sends on a process's
// channel.
type outputStreams struct{ stdout, stderr bool }

// moved are a moved process's: it gets pipes on its new node whatever its
// job said, so its output always comes.
var moved = outputStreams{stdout: true, stderr: true}

// outputsOf are the streams of a process started with start: none with
// bpsh -N, not one the node opens a file for (-O, -E), not stderr on a
// terminal (-T), which is stdout too.
func outputsOf(start *wire.Command) outputStreams {
	if start.NoIO {
		return outputStreams{}
	}
	return outputStreams{stdout: start.StdoutFile == "", stderr: start.StderrFile == "" && start.TTY == nil}
}

// nullOutputs has the node write to /dev/null what the ghost gave the
// master no descriptor for, rather than send it here to be dropped. Not
// on a terminal: there stdout is the terminal the process reads too.
func nullOutputs(start *wire.Command, files [3]*os.File) {
	if start.TTY != nil || start.NoIO {
		return
	}
	if files[1] == nil && start.StdoutFile == "" {
		start.StdoutFile = os.DevNull
	}
	if files[2] == nil && start.StderrFile == "" {
		start.StderrFile = os.DevNull
	}
}

// hasStdin says whether the process reads the ghost's stdin.
func (p *proc) hasStdin() bool {
	c := &p.job.cmd
	return p.files[0] != nil && !c.NoIO && c.StdinFile == ""
}

// pumpOut copies one output stream of the process to the ghost's
// descriptor f (outTo), or drops it if there is none. When the reader
// there has gone (EPIPE), the remote process gets the SIGPIPE it would
// have got locally, and the rest is drained.
func (p *proc) pumpOut(f io.Writer, r io.Reader) {
	if f == nil {
		streamcopy.Copy(io.Discard, r)
		return
	}
	_, err := streamcopy.Copy(f, r)
	if errors.Is(err, syscall.EPIPE) {
		p.signal(syscall.SIGPIPE)
		streamcopy.Copy(io.Discard, r)
	}
}
