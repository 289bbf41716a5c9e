package contentcache

import (
	"container/list"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A node's cache holds whole copies of master files in a directory of the
// node's tmpfs, dir/sha256/<sum>: named by the SHA-256 of their content,
// which the master tells (Hashes) and the node checks as each copy
// arrives. A copy is written under a temporary name and renamed to its sum
// only when whole and when its bytes have that sum, so a file with a sum
// name is complete and correct, and a cache opened again (a node daemon
// restarted) finds its copies by name without any index on disk.
//
// What the cache is asked is "the copy of content S, which path P has on
// the master now": a hit costs nothing, a miss fetches once however many
// ask at once, and a copy whose content no path has any more (P changed)
// goes as soon as nobody reads it.

// entry is one copy in the cache, complete or being fetched.
type Entry struct {
	sum   Sum
	ready chan struct{} // closed when the fetch ended, err says how

	// file is the copy: dir/<sum>, or the temporary file of a copy that is
	// not the content asked for (torn by a writer on the master, or asked
	// for with no sum), which is served but never named by a sum.
	file string

	// Guarded by Cache.mu.
	err     error
	indexed bool // in Cache.entries (false for a private copy)
	paths   int  // master paths whose content this is now
	size    int64
	refs    int           // holders: never evicted while > 0
	lru     *list.Element // in Cache.lru while refs == 0
	lastUse time.Time
	gone    bool   // out of the index: removed when refs reaches 0
	removed bool   // its file deleted and its bytes no longer counted
	torn    bool   // not the content asked for: never indexed
	part    string // the temporary file while it is fetched

	// written is how much of the copy is in part so far: another node may
	// be served a copy while it is still arriving here.
	written atomic.Int64
}

// Sum is the content the copy was asked for as.
func (e *Entry) Sum() Sum { return e.sum }

// Size is the size of the copy; valid once Acquire returned it.
func (e *Entry) Size() int64 { return e.size }

// Torn reports that the copy is not the content it was asked for (the file
// changed on the master between its sum and its fetch, or no sum was
// known): it serves the opens that fetched it and nobody else. Valid once
// Acquire returned it.
func (e *Entry) Torn() bool { return e.torn }

// File is the copy's file. Valid once Acquire returned it; the caller
// holds e.
func (e *Entry) File() string { return e.file }

// Stats counts what a cache did since it was opened.
type Stats struct {
	Fetches      int64 // copies fetched
	FetchedBytes int64
	Hits         int64 // acquires served by a complete copy
	Shared       int64 // acquires that waited for another acquire's fetch
	Torn         int64 // copies that were not the content asked for
	Evictions    int64 // unused copies removed to stay under the size limit
	Bytes        int64 // size of the copies held now
	Files        int
}

// Cache is the copies in a directory. Copies not in use are evicted, least
// recently used first, when the total would exceed limit (0: no limit).
// Copies in use are never evicted, so the total can exceed the limit while
// they are held; it comes back under the limit as they are released.
type Cache struct {
	dir   string // dir/sha256
	limit int64

	mu      sync.Mutex // guards the fields below
	entries map[Sum]*Entry
	paths   map[string]*Entry // master path -> the copy of its content now
	lru     *list.List        // of *Entry, least recently used at the back
	used    int64
	stats   Stats

	// beforeFetch, when set (by tests), runs before every fetch: it holds a
	// fetch open to show that the acquires arriving meanwhile share it.
	beforeFetch func()
}

// SumDir is the directory of the copies under a cache's directory.
const SumDir = "sha256"

// partSuffix marks a copy being fetched: never served by name, removed on
// open.
const partSuffix = ".part"

// SetBeforeFetch sets a hook run before every fetch (for tests). Under mu:
// the race detector cannot see that the kernel orders a test's write before
// the FUSE request it causes.
func (c *Cache) SetBeforeFetch(f func()) {
	c.mu.Lock()
	c.beforeFetch = f
	c.mu.Unlock()
}

// Open opens the cache in dir, making dir/sha256 if needed, removing the
// partial copies of a previous run and keeping its complete ones.
func Open(dir string, limit int64) (*Cache, error) {
	sums := filepath.Join(dir, SumDir)
	if err := os.MkdirAll(sums, 0o700); err != nil {
		return nil, fmt.Errorf("contentcache: cache dir %s: %w", dir, err)
	}
	// The copies are the master's files as the users who opened them
	// could read them: nobody else on the node may look.
	os.Chmod(dir, 0o700)
	os.Chmod(sums, 0o700)
	ents, err := os.ReadDir(sums)
	if err != nil {
		return nil, fmt.Errorf("contentcache: cache dir %s: %w", dir, err)
	}
	c := &Cache{
		dir: sums, limit: limit, lru: list.New(),
		entries: make(map[Sum]*Entry), paths: make(map[string]*Entry),
	}
	var found []*Entry
	for _, de := range ents {
		name := de.Name()
		if strings.HasSuffix(name, partSuffix) {
			os.Remove(filepath.Join(sums, name))
			continue
		}
		sum, err := ParseSum(name)
		if err != nil || !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		e := &Entry{sum: sum, file: filepath.Join(sums, name), size: fi.Size(), indexed: true,
			lastUse: fi.ModTime(), ready: make(chan struct{})}
		close(e.ready)
		found = append(found, e)
	}
	// Oldest at the back of the LRU list.
	sort.Slice(found, func(i, j int) bool { return found[i].lastUse.After(found[j].lastUse) })
	for _, e := range found {
		c.entries[e.sum] = e
		e.lru = c.lru.PushBack(e)
		c.used += e.size
	}
	c.mu.Lock()
	c.evictLocked(0)
	c.mu.Unlock()
	return c, nil
}

// Dir is the directory the copies are in (dir/sha256 of Open).
func (c *Cache) Dir() string { return c.dir }

// FetchFunc copies the content asked for to w.
type FetchFunc func(w *Writer) error

// Acquire returns the copy of content sum, of size bytes, which the master
// path has now (path may be "": a copy not named by any path), held until
// Release. If there is none it fetches it with fetch, and acquires of sum
// that arrive during that fetch wait for it instead of fetching again.
//
// The bytes fetch writes are checked against sum: a copy that differs (the
// file changed on the master since its sum was taken) is returned Torn, to
// this caller and those waiting with it, and never kept. A zero sum (the
// master gave none) fetches a Torn copy for this caller alone.
func (c *Cache) Acquire(path string, sum Sum, size int64, fetch FetchFunc) (*Entry, error) {
	c.mu.Lock()
	if !sum.IsZero() {
		if e := c.entries[sum]; e != nil {
			c.holdLocked(e)
			c.setPathLocked(path, e)
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
				c.Release(e)
				return nil, err
			}
			return e, nil
		}
	}
	e := &Entry{sum: sum, file: filepath.Join(c.dir, sum.String()), size: size,
		refs: 1, ready: make(chan struct{})}
	if !sum.IsZero() {
		e.indexed = true
		c.entries[sum] = e
		c.setPathLocked(path, e)
	}
	// Room is made before the fetch, from the size the master reported.
	c.evictLocked(size)
	c.used += size
	c.stats.Fetches++
	hook := c.beforeFetch
	c.mu.Unlock()

	if hook != nil {
		hook()
	}
	n, file, err := c.fetchInto(e, path, size, fetch)

	c.mu.Lock()
	if file != "" {
		e.file = file
	}
	c.stats.FetchedBytes += n
	c.used += n - size
	e.size = n
	switch {
	case errors.Is(err, errTorn):
		// Serve what was read to the acquires that wanted it, as a local
		// read racing a writer would, but keep it out of the index: the
		// next acquire asks again and fetches again.
		c.stats.Torn++
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
		c.Release(e)
		return nil, err
	}
	return e, nil
}

// errTorn: what was fetched is not the content asked for.
var errTorn = errors.New("not the content asked for")

// fetchInto fetches e into its file, through a temporary file so that a
// failed or interrupted fetch leaves no half copy under a sum name. A torn
// copy keeps its temporary name, returned in tmp.
func (c *Cache) fetchInto(e *Entry, path string, size int64, fetch FetchFunc) (n int64, tmp string, err error) {
	f, err := os.CreateTemp(c.dir, e.sum.String()+".*"+partSuffix)
	if err != nil {
		return 0, "", fmt.Errorf("contentcache: cache %s: %w", path, err)
	}
	c.mu.Lock()
	e.part = f.Name()
	c.mu.Unlock()
	w := &Writer{f: f, h: sha256.New(), progress: &e.written}
	err = fetch(w)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("contentcache: cache %s: %w", path, cerr)
	}
	switch {
	case err != nil:
		os.Remove(f.Name())
		return w.n, "", err
	case e.sum.IsZero() || sumOf(w.h) != e.sum || w.n != size:
		return w.n, f.Name(), fmt.Errorf("contentcache: fetch %s: %w", path, errTorn)
	}
	if err := os.Rename(f.Name(), filepath.Join(c.dir, e.sum.String())); err != nil {
		os.Remove(f.Name())
		return w.n, "", fmt.Errorf("contentcache: cache %s: %w", path, err)
	}
	return w.n, "", nil
}

// Open opens the copy e, which the caller holds.
func (c *Cache) Open(e *Entry) (*os.File, error) {
	f, err := os.Open(e.file)
	if err != nil {
		return nil, fmt.Errorf("contentcache: open cached copy: %w", err)
	}
	return f, nil
}

// Hold returns the complete or arriving copy of sum, held until Release,
// or nil.
func (c *Cache) Hold(sum Sum) *Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[sum]
	if e != nil {
		c.holdLocked(e)
	}
	return e
}

// Release ends a hold on e: an unused copy joins the LRU list, or is
// removed if it is out of the index.
func (c *Cache) Release(e *Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs > 0 {
		return
	}
	if e.gone || !e.indexed {
		c.removeLocked(e)
		return
	}
	e.lastUse = time.Now()
	e.lru = c.lru.PushFront(e)
	c.evictLocked(0)
}

// Forget takes e out of the cache: acquires of its sum fetch again. For a
// copy found changed (a push places copies where programs could write to
// them).
func (c *Cache) Forget(e *Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetLocked(e)
}

func (c *Cache) holdLocked(e *Entry) {
	if e.lru != nil {
		c.lru.Remove(e.lru)
		e.lru = nil
	}
	e.refs++
}

// setPathLocked records e as the content path has now. The copy of the
// content path had before goes as soon as nobody reads it, if no other
// path has that content: it could only be asked for again if a file went
// back to it.
func (c *Cache) setPathLocked(path string, e *Entry) {
	if path == "" {
		return
	}
	old := c.paths[path]
	if old == e {
		return
	}
	c.paths[path] = e
	e.paths++
	if old != nil {
		old.paths--
		if old.paths == 0 {
			c.forgetLocked(old)
		}
	}
}

// forgetLocked takes e out of the index: new acquires fetch again, holders
// go on reading it, and it is removed when the last lets go.
func (c *Cache) forgetLocked(e *Entry) {
	if c.entries[e.sum] == e {
		delete(c.entries, e.sum)
	}
	e.gone = true
	if e.refs == 0 {
		c.removeLocked(e)
	}
}

// removeLocked deletes an unused copy.
func (c *Cache) removeLocked(e *Entry) {
	if e.removed {
		return
	}
	e.removed = true
	if e.lru != nil {
		c.lru.Remove(e.lru)
		e.lru = nil
	}
	if c.entries[e.sum] == e {
		delete(c.entries, e.sum)
	}
	c.used -= e.size
	// A newer entry may have the same sum (fetched again after this one
	// was forgotten): its file is not this one's to delete.
	if n := c.entries[e.sum]; n == nil || e.file != n.file {
		os.Remove(e.file)
	}
}

// evictLocked removes unused copies, least recently used first, until
// need more bytes fit under the limit or nothing unused is left.
func (c *Cache) evictLocked(need int64) {
	if c.limit <= 0 {
		return
	}
	for c.used+need > c.limit {
		back := c.lru.Back()
		if back == nil {
			return
		}
		e := back.Value.(*Entry)
		c.stats.Evictions++
		c.removeLocked(e)
	}
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Bytes = c.used
	s.Files = len(c.entries)
	return s
}

// Writer is where a fetch writes a copy: it counts and sums what it is
// given.
type Writer struct {
	f        *os.File
	h        hash.Hash
	n        int64
	progress *atomic.Int64 // follows n
}

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	w.progress.Store(w.n)
	return n, err
}

// Written is how many bytes were written so far.
func (w *Writer) Written() int64 { return w.n }

// Reset throws away what was written: a fetch from another node that broke
// off is done again from the master.
func (w *Writer) Reset() error {
	if err := w.f.Truncate(0); err != nil {
		return err
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w.h.Reset()
	w.n = 0
	w.progress.Store(0)
	return nil
}
