package masterview

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The content cache holds whole copies of master files in a directory of
// the node's tmpfs.
//
// A copy is named by the SHA-256 of its key (master path, size, mtime), not
// of its content. The only question the view ever asks is "do I have this
// path as it is on the master now?", and the master can answer "size S,
// mtime M" in one stat, while a content hash would need the whole file read
// there and sent here first: naming by content would save disk, never a
// transfer. Naming by key also makes every complete file its own index
// entry: a copy is written under a temporary name and renamed when whole,
// so a file with a key name is complete, and a view mounted again (a node
// daemon restarted) finds its copies by name without any index on disk.
// A changed file on the master has a new key, so it is fetched again under
// a new name while programs that opened the old version go on reading it.
//
// SFTP version 3 gives mtime in whole seconds: a rewrite within the second
// that keeps the size is not noticed, the same blind spot make(1) has.

// key is one version of one master file.
type key struct {
	path  string
	size  int64
	mtime int64 // seconds
}

func (k key) name() string {
	h := sha256.New()
	io.WriteString(h, k.path)
	h.Write([]byte{0})
	io.WriteString(h, strconv.FormatInt(k.size, 10))
	h.Write([]byte{0})
	io.WriteString(h, strconv.FormatInt(k.mtime, 10))
	return hex.EncodeToString(h.Sum(nil))
}

// partSuffix marks a copy being fetched: never served, removed on mount.
const partSuffix = ".part"

// entry is one copy in the cache, complete or being fetched.
type entry struct {
	name  string
	ready chan struct{} // closed when the fetch ended, err says how

	// file is the copy: dir/name, or the temporary file of a copy torn by
	// a writer on the master, which is served but never named by its key.
	file string

	// Guarded by cache.mu.
	err     error
	path    string // master path; "" for a copy found on mount
	size    int64
	refs    int           // open handles and fetches: never evicted while > 0
	lru     *list.Element // in cache.lru while refs == 0
	lastUse time.Time
	gone    bool   // out of the index: removed when refs reaches 0
	torn    bool   // changed on the master during the fetch
	part    string // the temporary file while it is fetched

	// written is how much of the copy is in part so far: another node may
	// be served a copy while it is still arriving here.
	written atomic.Int64
}

// CacheStats counts what the content cache did since the view was mounted.
type CacheStats struct {
	Fetches      int64 // copies fetched from the master
	FetchedBytes int64
	Hits         int64 // opens served by a complete copy
	Shared       int64 // opens that waited for another open's fetch
	Evictions    int64 // unused copies removed to stay under the size limit
	Bytes        int64 // size of the copies held now
	Files        int
}

// cache is the content cache in dir. Copies not in use are evicted, least
// recently used first, when the total would exceed limit (0: no limit).
// Copies in use are never evicted, so the total can exceed the limit while
// they are open; it comes back under the limit as they are closed.
type cache struct {
	dir   string
	limit int64

	mu      sync.Mutex // guards the fields below
	entries map[string]*entry
	current map[string]*entry // master path -> its newest copy
	lru     *list.List        // of *entry, least recently used at the back
	used    int64
	stats   CacheStats

	// beforeFetch, when set (by tests), runs before every fetch: it holds a
	// fetch open to show that the opens arriving meanwhile share it.
	beforeFetch func()
}

// setBeforeFetch sets the test hook. Under mu: the race detector cannot see
// that the kernel orders a test's write before the FUSE request it causes.
func (c *cache) setBeforeFetch(f func()) {
	c.mu.Lock()
	c.beforeFetch = f
	c.mu.Unlock()
}

// openCache opens the cache in dir, making it if needed, removing the
// partial copies of a previous run and keeping its complete ones.
func openCache(dir string, limit int64) (*cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("masterview: cache dir %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("masterview: cache dir %s: %w", dir, err)
	}
	c := &cache{
		dir: dir, limit: limit, lru: list.New(),
		entries: make(map[string]*entry), current: make(map[string]*entry),
	}
	var found []*entry
	for _, de := range ents {
		name := de.Name()
		if filepath.Ext(name) == partSuffix {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		if !isKeyName(name) || !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		e := &entry{name: name, file: filepath.Join(dir, name), size: fi.Size(),
			lastUse: fi.ModTime(), ready: make(chan struct{})}
		close(e.ready)
		found = append(found, e)
	}
	// Oldest at the back of the LRU list.
	sort.Slice(found, func(i, j int) bool { return found[i].lastUse.After(found[j].lastUse) })
	for _, e := range found {
		c.entries[e.name] = e
		e.lru = c.lru.PushBack(e)
		c.used += e.size
	}
	c.mu.Lock()
	c.evictLocked(0)
	c.mu.Unlock()
	return c, nil
}

func isKeyName(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// errChanged: the file changed on the master while it was being fetched.
var errChanged = errors.New("changed during the fetch")

// fetchFunc copies the file of k to w and reports the key it had after the
// copy (a second stat), so a copy torn by a writer on the master is caught.
type fetchFunc func(w io.Writer) (after key, err error)

// acquire returns the copy of k, held until release. If there is none it
// fetches it with fetch; opens of k that arrive during that fetch wait for
// it instead of fetching again.
func (c *cache) acquire(k key, fetch fetchFunc) (*entry, error) {
	name := k.name()
	c.mu.Lock()
	if e := c.entries[name]; e != nil {
		c.holdLocked(e)
		e.path = k.path
		c.setCurrentLocked(k.path, e)
		select {
		case <-e.ready:
			c.stats.Hits++
		default:
			c.stats.Shared++
		}
		c.mu.Unlock()
		<-e.ready
		c.mu.Lock()
		err := e.err
		c.mu.Unlock()
		if err != nil {
			c.release(e)
			return nil, err
		}
		return e, nil
	}
	e := &entry{name: name, file: filepath.Join(c.dir, name), path: k.path, size: k.size,
		refs: 1, ready: make(chan struct{})}
	c.entries[name] = e
	c.setCurrentLocked(k.path, e)
	// Room is made before the fetch, from the size the master reported.
	c.evictLocked(k.size)
	c.used += k.size
	c.stats.Fetches++
	hook := c.beforeFetch
	c.mu.Unlock()

	if hook != nil {
		hook()
	}
	n, file, err := c.fetchInto(e, k, fetch)

	c.mu.Lock()
	if file != "" {
		e.file = file
	}
	c.stats.FetchedBytes += n
	c.used += n - k.size
	e.size = n
	switch {
	case errors.Is(err, errChanged):
		// Serve what was read to the opens that wanted it, as a local read
		// racing a writer would, but keep it out of the index: the next
		// open sees the new key and fetches again.
		c.forgetLocked(e)
		e.torn = true
		err = nil
	case err != nil:
		e.err = err
		c.forgetLocked(e)
	}
	close(e.ready)
	c.mu.Unlock()
	if err != nil {
		c.release(e)
		return nil, err
	}
	return e, nil
}

// fetchInto fetches k into the file name, through a temporary file so that
// a failed or interrupted fetch leaves no half copy under a key name. A copy
// torn by a change on the master keeps its temporary name, returned in tmp.
func (c *cache) fetchInto(e *entry, k key, fetch fetchFunc) (n int64, tmp string, err error) {
	name := e.name
	f, err := os.CreateTemp(c.dir, name+".*"+partSuffix)
	if err != nil {
		return 0, "", fmt.Errorf("masterview: cache %s: %w", k.path, err)
	}
	c.mu.Lock()
	e.part = f.Name()
	c.mu.Unlock()
	cw := &countWriter{w: f, f: f, progress: &e.written}
	after, err := fetch(cw)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("masterview: cache %s: %w", k.path, cerr)
	}
	switch {
	case err != nil:
		os.Remove(f.Name())
		return cw.n, "", err
	case after != k || cw.n != k.size:
		return cw.n, f.Name(), fmt.Errorf("masterview: fetch %s: %w", k.path, errChanged)
	}
	if err := os.Rename(f.Name(), filepath.Join(c.dir, name)); err != nil {
		os.Remove(f.Name())
		return cw.n, "", fmt.Errorf("masterview: cache %s: %w", k.path, err)
	}
	return cw.n, "", nil
}

// open opens the copy e, which the caller holds.
func (c *cache) open(e *entry) (*os.File, error) {
	f, err := os.Open(e.file)
	if err != nil {
		return nil, fmt.Errorf("masterview: open cached copy: %w", err)
	}
	return f, nil
}

// release ends a hold on e: an unused copy joins the LRU list, or is
// removed if it is out of the index.
func (c *cache) release(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs > 0 {
		return
	}
	if e.gone {
		c.removeLocked(e)
		return
	}
	e.lastUse = time.Now()
	e.lru = c.lru.PushFront(e)
	c.evictLocked(0)
}

func (c *cache) holdLocked(e *entry) {
	if e.lru != nil {
		c.lru.Remove(e.lru)
		e.lru = nil
	}
	e.refs++
}

// setCurrentLocked records e as the newest copy of path: the copy it
// replaces can never be asked for again (unless the file goes back to the
// exact size and mtime it had), so it goes as soon as nobody reads it.
func (c *cache) setCurrentLocked(path string, e *entry) {
	old := c.current[path]
	c.current[path] = e
	if old != nil && old != e {
		c.forgetLocked(old)
	}
}

// forgetLocked takes e out of the index: new opens fetch again, opens that
// hold it go on reading it, and it is removed when the last lets go.
func (c *cache) forgetLocked(e *entry) {
	if c.entries[e.name] == e {
		delete(c.entries, e.name)
	}
	if c.current[e.path] == e {
		delete(c.current, e.path)
	}
	e.gone = true
	if e.refs == 0 {
		c.removeLocked(e)
	}
}

// removeLocked deletes an unused copy.
func (c *cache) removeLocked(e *entry) {
	if e.lru != nil {
		c.lru.Remove(e.lru)
		e.lru = nil
	}
	if c.entries[e.name] == e {
		delete(c.entries, e.name)
	}
	if c.current[e.path] == e {
		delete(c.current, e.path)
	}
	c.used -= e.size
	// A newer entry may have the same name (the file went back to an old
	// size and mtime): its file is not this one's to delete.
	if c.entries[e.name] == nil || e.file != filepath.Join(c.dir, e.name) {
		os.Remove(e.file)
	}
}

// evictLocked removes unused copies, least recently used first, until
// need more bytes fit under the limit or nothing unused is left.
func (c *cache) evictLocked(need int64) {
	if c.limit <= 0 {
		return
	}
	for c.used+need > c.limit {
		back := c.lru.Back()
		if back == nil {
			return
		}
		e := back.Value.(*entry)
		c.stats.Evictions++
		c.removeLocked(e)
	}
}

func (c *cache) statsNow() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Bytes = c.used
	s.Files = len(c.entries)
	return s
}

type countWriter struct {
	w        io.Writer
	n        int64
	f        *os.File      // when w is a file: reset empties it
	progress *atomic.Int64 // when set, follows n
}

func (w *countWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	if w.progress != nil {
		w.progress.Store(w.n)
	}
	return n, err
}

// reset throws away what was written: a fetch from another node that
// broke off is done again from the master.
func (w *countWriter) reset() error {
	if w.f == nil {
		return errors.New("masterview: cannot take back what was written")
	}
	if err := w.f.Truncate(0); err != nil {
		return err
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w.n = 0
	if w.progress != nil {
		w.progress.Store(0)
	}
	return nil
}
