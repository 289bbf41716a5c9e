package masterview

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bproc/bproc/wire"
)

// Peers lets a view fetch a large file from another node that has it, or
// is fetching it, instead of from the master (package nodeview gives one:
// the master says which node, the node shows the master's ticket there).
type Peers interface {
	// Fetch copies version v to w from another node, for user uid. It
	// reports false, having written nothing, when the master says to
	// fetch from it instead.
	Fetch(uid uint32, v wire.Version, w io.Writer) (fromPeer bool, err error)
}

// defaultPeerMin is the size from which a file is worth asking another
// node for: below it the round trip to ask costs more than it saves.
const defaultPeerMin = 1 << 20

// ErrNoCopy: this node has no copy of the version asked for.
var ErrNoCopy = errors.New("masterview: no copy of that version here")

// servePoll is how often a copy still arriving is looked at again.
const servePoll = time.Millisecond

// ServeCopy writes this node's copy of v to w for another node, also
// while the copy is still arriving from the master (or from a third
// node): it follows the copy until it is whole. The caller has checked
// the master's ticket for v.
func (v *View) ServeCopy(ver wire.Version, w io.Writer) (int64, error) {
	c := v.cache
	k := key{path: ver.Path, size: ver.Size, mtime: ver.MTime}
	c.mu.Lock()
	e := c.entries[k.name()]
	if e == nil {
		c.mu.Unlock()
		return 0, ErrNoCopy
	}
	c.holdLocked(e)
	c.mu.Unlock()
	defer c.release(e)

	f, err := openCopy(c, e)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	var off int64
	idle := time.Now()
	for off < k.size {
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
				return off, fmt.Errorf("masterview: copy of %s: fetch failed", ver.Path)
			}
			if e.written.Load() <= off && off < k.size {
				return off, fmt.Errorf("masterview: copy of %s: %d of %d bytes", ver.Path, off, k.size)
			}
		default:
			if time.Since(idle) > time.Minute {
				return off, fmt.Errorf("masterview: copy of %s: no progress", ver.Path)
			}
			time.Sleep(servePoll)
		}
	}
	return off, nil
}

// openCopy opens e's file: the whole copy, or the one still arriving
// (whose descriptor stays good when it is renamed into place).
func openCopy(c *cache, e *entry) (*os.File, error) {
	for range 3 {
		c.mu.Lock()
		name := e.file
		select {
		case <-e.ready:
		default:
			if e.part != "" {
				name = e.part
			}
		}
		c.mu.Unlock()
		f, err := os.Open(name)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		// Renamed between the look and the open: look again.
	}
	return nil, ErrNoCopy
}

// fetchWithPeers is the fetch of an open: from another node when the
// file is large and the master names one, from the master otherwise, or
// when the other node fails (what it wrote is thrown away first).
func (v *View) fetchWithPeers(uid uint32, k key, w io.Writer, fromMaster func(io.Writer) (key, error)) (key, error) {
	if v.peers != nil && k.size >= v.peerMin {
		ver := wire.Version{Path: k.path, Size: k.size, MTime: k.mtime}
		ok, err := v.peers.Fetch(uid, ver, w)
		switch {
		case ok && err == nil:
			// The master vouched that this is the version the open found.
			return k, nil
		case ok:
			v.log.Warn("fetch from another node failed; from the master", "path", k.path, "err", err)
			r, canReset := w.(interface{ reset() error })
			if !canReset {
				return key{}, err
			}
			if rerr := r.reset(); rerr != nil {
				return key{}, rerr
			}
		case err != nil:
			v.log.Debug("no source from the master", "path", k.path, "err", err)
		}
	}
	return fromMaster(w)
}
