package bpsh

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/wire"
)

// files decides rank i's stdin, stdout and stderr. Where bpsh has nothing to
// add (one node, plain output) the ghost gets bpsh's own streams and the
// master reads and writes them directly, exactly as a local process would.
// Otherwise the ghost gets a pipe whose other end bpsh reads (-p, -L, -s) or
// feeds (stdin copied to every node). It returns the ends to close once the
// ghost has started.
func (r *runner) files(i int, fan *fanout) (files [3]*os.File, closeAfter []*os.File) {
	rk := r.ranks[i]
	switch {
	case r.cli.NullStdin || r.cli.NoIO || r.cli.StdinFile != "":
		if f, err := os.Open(os.DevNull); err == nil {
			files[0] = f
			closeAfter = append(closeAfter, f)
		}
	case r.ssh != nil && !r.cli.TTY && isSocket(r.io.Stdin):
		// bprsh under scp and others that hand ssh a socketpair: the
		// master would hold the caller's socket open while it reads it
		// (issue 16, section 3), and the caller waits for its EOF. A pipe
		// between them goes when bprsh does.
		if rd := fan.pipe(); rd != nil {
			files[0] = rd
			closeAfter = append(closeAfter, rd)
		}
	case len(r.ranks) == 1 || r.cli.TTY || isDevNull(r.io.Stdin):
		// /dev/null is the same for every node: handed on as it is, it
		// costs no pipe here and no descriptor in the master.
		files[0] = r.io.Stdin
	default:
		if rd := fan.pipe(); rd != nil {
			files[0] = rd
			closeAfter = append(closeAfter, rd)
		}
	}
	if !r.cli.Line && !r.cli.Sequential || r.cli.TTY {
		files[1], files[2] = r.io.Stdout, r.io.Stderr
		return files, closeAfter
	}
	rk.out = r.newSink(rk.node, r.outW)
	rk.err = r.newSink(rk.node, r.errW)
	for k, s := range []*sink{rk.out, rk.err} {
		rd, wr, err := os.Pipe()
		if err != nil {
			continue
		}
		// The master's end: non-blocking, so the master's poller owns it.
		unix.SetNonblock(int(wr.Fd()), true)
		files[k+1] = wr
		closeAfter = append(closeAfter, wr)
		r.sinks.Go(func() { s.consume(rd) })
	}
	return files, closeAfter
}

func isSocket(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

func isDevNull(f *os.File) bool {
	fi, err := f.Stat()
	null, err2 := os.Stat(os.DevNull)
	return err == nil && err2 == nil && os.SameFile(fi, null)
}

func (r *runner) newSink(node int, out io.Writer) *sink {
	return &sink{node: node, line: r.cli.Line, prefix: r.cli.Prefix, bufSize: r.cli.BufSize, out: out, seq: r.cli.Sequential}
}

// fanout copies bpsh's stdin to every node (BProc reads it once).
type fanout struct {
	in      *os.File
	bufSize int
	outs    []*os.File
}

func (r *runner) stdinFanout() *fanout { return &fanout{in: r.io.Stdin, bufSize: r.cli.BufSize} }

// pipe returns the read end for one more node.
func (f *fanout) pipe() *os.File {
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil
	}
	unix.SetNonblock(int(rd.Fd()), true)
	f.outs = append(f.outs, wr)
	return rd
}

// start copies stdin to every pipe until EOF. With no pipes stdin is not
// touched, so bpsh never takes input that was meant for the shell.
func (f *fanout) start() {
	if len(f.outs) == 0 {
		return
	}
	queues := make([]chan []byte, len(f.outs))
	for i, w := range f.outs {
		q := make(chan []byte, 256)
		queues[i] = q
		go func() {
			defer w.Close()
			dead := false
			for b := range q {
				if !dead {
					_, err := w.Write(b)
					dead = err != nil // that node stopped reading; the others go on
				}
			}
		}()
	}
	go func() {
		defer func() {
			for _, q := range queues {
				close(q)
			}
		}()
		for {
			buf := make([]byte, f.bufSize)
			n, err := f.in.Read(buf)
			if n > 0 {
				for _, q := range queues {
					q <- buf[:n]
				}
			}
			if err != nil {
				return
			}
		}
	}()
}

// rawTerminal puts the local terminal in raw mode for -T and says what the
// node's pseudo-terminal should look like.
func rawTerminal(in *os.File) (restore func(), tty *wire.TTY, err error) {
	fd := int(in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, nil, fmt.Errorf("-T: stdin is not a terminal")
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, nil, fmt.Errorf("-T: raw mode: %w", err)
	}
	tty = &wire.TTY{Term: os.Getenv("TERM")}
	if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
		tty.Rows, tty.Cols = ws.Row, ws.Col
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, tty, nil
}
