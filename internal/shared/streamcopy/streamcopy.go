// Package streamcopy copies the streams of remote processes (stdin, stdout,
// stderr) with a buffer that fits their traffic.
//
// The master and every node copy each stream of each live process, and
// most of those streams are quiet for most of their lives. io.Copy would
// hold a 32 kB buffer (os.File's fallback) or an 8 kB one (io.Discard's
// pool) per stream for as long as its Read blocks, which for an idle
// process is its whole life, and makes one such buffer of garbage per
// stream for a short one: issue 6's 15,000 processes. A quiet stream here
// holds 512 bytes; a busy one borrows 32 kB from a pool while its reads
// keep filling it.
package streamcopy

import (
	"io"
	"sync"
)

const (
	quietSize = 512      // held while a stream waits for its next bytes
	busySize  = 32 << 10 // borrowed while bytes keep coming, as io.Copy's
)

var busy = sync.Pool{New: func() any { b := make([]byte, busySize); return &b }}

// Borrow lends a 32 kB buffer, for a copy of its own (a drain that reads
// until EAGAIN); Return gives it back.
func Borrow() *[]byte { return busy.Get().(*[]byte) }

// Return gives back a buffer Borrow lent.
func Return(b *[]byte) { busy.Put(b) }

// Copy is io.Copy with a buffer that fits the traffic: a read that fills
// the small one borrows a large one for as long as reads fill that, and a
// short read (the source had no more at that moment) gives it back.
func Copy(dst io.Writer, src io.Reader) (int64, error) {
	quiet := make([]byte, quietSize)
	buf := quiet
	var lent *[]byte
	defer func() {
		if lent != nil {
			Return(lent)
		}
	}()
	var written int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			w, werr := dst.Write(buf[:n])
			written += int64(w)
			if werr != nil {
				return written, werr
			}
			if w != n {
				return written, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
		switch {
		case lent == nil && n == len(buf):
			lent = Borrow()
			buf = *lent
		case lent != nil && n < len(buf):
			Return(lent)
			lent, buf = nil, quiet
		}
	}
}
