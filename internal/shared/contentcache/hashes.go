package contentcache

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// Hashes is the master's side: the sums of its files, each file hashed
// once per change. A sum is kept by what identifies one state of one file
// — device, inode, size, mtime and ctime — so an unchanged file costs an
// fstat. ctime changes on every write, chmod and rename of the file and
// cannot be set by a user (touch -r sets mtime, not ctime), so a file
// rewritten with its size and mtime put back still gets hashed again.
//
// A file changed within racyWindow of its hashing is hashed again on every
// ask until it is older: a write in the same clock tick as the one before
// it may leave ctime as it was (the "racy git" problem).
type Hashes struct {
	mu sync.Mutex
	m  map[fileState]Sum
	// now is the clock, for tests.
	now func() time.Time
}

// fileState is one state of one file.
type fileState struct {
	dev, ino           uint64
	size, mtime, ctime int64 // nanoseconds
}

const (
	maxHashes  = 1 << 16 // sums kept; past it, half are forgotten
	racyWindow = 2 * time.Second
)

// ErrNotRegular: only regular files have sums.
var ErrNotRegular = errors.New("contentcache: not a regular file")

// errChangedWhileHashed: the file changed while it was read.
var errChangedWhileHashed = errors.New("contentcache: changed while it was hashed")

func stateOf(f *os.File) (fileState, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fileState{}, &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return fileState{}, fmt.Errorf("%s: %w", f.Name(), ErrNotRegular)
	}
	return fileState{
		dev: st.Dev, ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}, nil
}

// SumFile returns the sum of the open file f and its size. The caller
// opened f, with the credentials of the user who asks: the open is the
// check that they may have its content, and the sum of what they could not
// read is never given to them.
func (h *Hashes) SumFile(f *os.File) (Sum, int64, error) {
	before, err := stateOf(f)
	if err != nil {
		return Sum{}, 0, err
	}
	h.mu.Lock()
	sum, ok := h.m[before]
	clock := h.now
	h.mu.Unlock()
	if ok {
		return sum, before.size, nil
	}
	sum, n, err := SumOf(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return Sum{}, 0, fmt.Errorf("contentcache: hash %s: %w", f.Name(), err)
	}
	after, err := stateOf(f)
	if err != nil {
		return Sum{}, 0, err
	}
	if after != before || n != before.size {
		return Sum{}, 0, fmt.Errorf("%s: %w", f.Name(), errChangedWhileHashed)
	}
	if clock == nil {
		clock = time.Now
	}
	now := clock().UnixNano()
	if now-max(before.mtime, before.ctime) < int64(racyWindow) {
		return sum, n, nil // too recent to trust the next fstat with
	}
	h.mu.Lock()
	if h.m == nil {
		h.m = make(map[fileState]Sum)
	}
	if len(h.m) >= maxHashes {
		i := 0
		for k := range h.m {
			if i%2 == 0 {
				delete(h.m, k)
			}
			i++
		}
	}
	h.m[before] = sum
	h.mu.Unlock()
	return sum, n, nil
}

// SumPath opens p and sums it (see SumFile): for a caller running with the
// user's credentials.
func (h *Hashes) SumPath(p string) (Sum, int64, error) {
	// O_NONBLOCK: a FIFO put in the file's place does not hang the open.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return Sum{}, 0, err
	}
	defer f.Close()
	return h.SumFile(f)
}

// Len is how many sums are kept (for tests).
func (h *Hashes) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}

// Settle sums f, a file the master itself has just written and closed and
// that nobody else writes (a move's image), and keeps the sum although the
// file is recent: the nodes that open it at once would each have it hashed
// again otherwise.
func (h *Hashes) Settle(f *os.File) (Sum, error) {
	st, err := stateOf(f)
	if err != nil {
		return Sum{}, err
	}
	sum, n, err := SumOf(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return Sum{}, fmt.Errorf("contentcache: hash %s: %w", f.Name(), err)
	}
	if after, err := stateOf(f); err != nil || after != st || n != st.size {
		return Sum{}, fmt.Errorf("%s: %w", f.Name(), errChangedWhileHashed)
	}
	h.mu.Lock()
	if h.m == nil {
		h.m = make(map[fileState]Sum)
	}
	h.m[st] = sum
	h.mu.Unlock()
	return sum, nil
}
