package contentcache

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ErrNoCopy: the cache has no copy of the content asked for.
var ErrNoCopy = errors.New("contentcache: no copy of that content here")

// servePoll is how often a copy still arriving is looked at again.
const servePoll = time.Millisecond

// ServeCopy writes the copy of sum, of size bytes, to w for another node,
// also while the copy is still arriving (from the master or a third
// node): it follows the copy until it is whole. The caller has checked
// that the other node may have it (the master's ticket); the other node
// checks the sum of what it gets.
func (c *Cache) ServeCopy(sum Sum, size int64, w io.Writer) (int64, error) {
	e := c.Hold(sum)
	if e == nil {
		return 0, ErrNoCopy
	}
	defer c.Release(e)

	f, err := c.openArriving(e)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	var off int64
	idle := time.Now()
	for off < size {
		n, err := f.ReadAt(buf, off)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return off, werr
			}
			off += int64(n)
			idle = time.Now()
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return off, err
		}
		// At the end of what has arrived: wait for more, or for the fetch
		// to end.
		select {
		case <-e.ready:
			c.mu.Lock()
			ferr, torn := e.err, e.torn
			c.mu.Unlock()
			if ferr != nil || torn {
				return off, fmt.Errorf("contentcache: copy of %s: fetch failed", sum)
			}
			if e.written.Load() <= off && off < size {
				return off, fmt.Errorf("contentcache: copy of %s: %d of %d bytes", sum, off, size)
			}
		default:
			if time.Since(idle) > time.Minute {
				return off, fmt.Errorf("contentcache: copy of %s: no progress", sum)
			}
			time.Sleep(servePoll)
		}
	}
	return off, nil
}

// openArriving opens e's file: the whole copy, or the one still arriving
// (whose descriptor stays good when it is renamed into place).
func (c *Cache) openArriving(e *Entry) (*os.File, error) {
	// A fetch that has only just begun has no file yet: the master may
	// name this node as soon as it asked for the copy.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		name, starting := e.file, false
		select {
		case <-e.ready:
		default:
			if e.part != "" {
				name = e.part
			} else {
				starting = true
			}
		}
		c.mu.Unlock()
		if !starting {
			f, err := os.Open(name)
			if err == nil {
				return f, nil
			}
			if !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
			// Renamed between the look and the open: look again.
		}
		if time.Now().After(deadline) {
			return nil, ErrNoCopy
		}
		time.Sleep(servePoll)
	}
}
