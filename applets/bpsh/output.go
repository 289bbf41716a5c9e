package bpsh

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// lockedWriter serialises the output of many nodes onto one stream.
type lockedWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// sink collects one output stream of one rank: it copies it through as it
// comes, whole lines at a time (-L), with the node number before each line
// (-p), or into a buffer shown later in node-list order (-s).
type sink struct {
	node    int
	line    bool
	prefix  bool
	bufSize int
	out     io.Writer    // the shared stream, when not sequential
	held    bytes.Buffer // sequential: everything, shown at the end
	seq     bool
}

func (s *sink) dest() io.Writer {
	if s.seq {
		return &s.held
	}
	return s.out
}

// consume reads r to its end.
func (s *sink) consume(r *os.File) {
	defer r.Close()
	if !s.line {
		io.Copy(s.dest(), r)
		return
	}
	br := bufio.NewReaderSize(r, s.bufSize)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			s.emit(chunk)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// emit writes one line (or the longest piece that fits the buffer) in one
// Write, so lines of different nodes never mix. A piece without its newline
// gets one when prefixed, as BProc did.
func (s *sink) emit(line []byte) {
	if !s.prefix {
		s.dest().Write(line)
		return
	}
	b := make([]byte, 0, len(line)+8)
	b = fmt.Appendf(b, "%3d: ", s.node)
	b = append(b, line...)
	if line[len(line)-1] != '\n' {
		b = append(b, '\n')
	}
	s.dest().Write(b)
}

// divider is what -d prints before a node's output.
func divider(node int) string {
	return fmt.Sprintf("%d\t%s\n", node, strings.Repeat("-", 69))
}
