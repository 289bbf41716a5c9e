package masterview

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// master is a fake master for the cache: files by path, and a count of the
// fetches it served.
type master struct {
	mu      sync.Mutex
	files   map[string]string
	mtime   int64
	fetches int
}

func (m *master) key(p string) key {
	m.mu.Lock()
	defer m.mu.Unlock()
	return key{path: p, size: int64(len(m.files[p])), mtime: m.mtime}
}

func (m *master) fetch(p string) fetchFunc {
	return func(w io.Writer) (key, error) {
		m.mu.Lock()
		m.fetches++
		s := m.files[p]
		m.mu.Unlock()
		_, err := io.WriteString(w, s)
		return m.key(p), err
	}
}

// get acquires p, reads the copy and releases it.
func get(t *testing.T, c *cache, m *master, p string) string {
	t.Helper()
	e, err := c.acquire(m.key(p), m.fetch(p))
	if err != nil {
		t.Fatalf("acquire(%s) = %v", p, err)
	}
	defer c.release(e)
	return readCopy(t, c, e)
}

func readCopy(t *testing.T, c *cache, e *entry) string {
	t.Helper()
	f, err := c.open(e)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestCacheHitAndNewVersion(t *testing.T) {
	dir := t.TempDir()
	c, err := openCache(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := &master{files: map[string]string{"/a": "one"}, mtime: 100}
	for i := 0; i < 3; i++ {
		if got := get(t, c, m, "/a"); got != "one" {
			t.Fatalf("get %d = %q, want one", i, got)
		}
	}
	if m.fetches != 1 {
		t.Errorf("3 gets of an unchanged file fetched %d times, want 1", m.fetches)
	}
	m.files["/a"], m.mtime = "two", 101
	if got := get(t, c, m, "/a"); got != "two" {
		t.Errorf("get after the change = %q, want two", got)
	}
	// The old version can never be asked for again: it is gone.
	if names := dirFiles(t, dir); len(names) != 1 || names[0] != m.key("/a").name() {
		t.Errorf("cache dir = %q, want only the new copy", names)
	}
	if s := c.statsNow(); s.Fetches != 2 || s.Hits != 2 || s.Files != 1 || s.Bytes != 3 {
		t.Errorf("stats = %+v", s)
	}
}

func TestCacheFetchesOnceForConcurrentOpens(t *testing.T) {
	c, err := openCache(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	m := &master{files: map[string]string{"/big": strings.Repeat("x", 1<<20)}}
	gate := make(chan struct{})
	fetch := m.fetch("/big")
	slow := func(w io.Writer) (key, error) {
		<-gate
		return fetch(w)
	}
	const n = 8
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Go(func() {
			e, err := c.acquire(m.key("/big"), slow)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.release(e)
			if e.size != 1<<20 {
				t.Errorf("copy size %d", e.size)
			}
		})
	}
	for c.statsNow().Shared < n-1 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	if m.fetches != 1 {
		t.Errorf("%d concurrent opens fetched %d times, want 1", n, m.fetches)
	}
}

// A fetch that breaks (the node lost the master) leaves no copy and no
// partial file, and the next open fetches again.
func TestCacheFailedFetchLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	c, err := openCache(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := &master{files: map[string]string{"/f": "complete"}}
	errLost := errors.New("connection lost")
	_, err = c.acquire(m.key("/f"), func(w io.Writer) (key, error) {
		io.WriteString(w, "comp")
		return key{}, errLost
	})
	if !errors.Is(err, errLost) {
		t.Fatalf("acquire with a broken fetch = %v, want %v", err, errLost)
	}
	if names := dirFiles(t, dir); len(names) != 0 {
		t.Errorf("cache dir after a broken fetch = %q, want empty", names)
	}
	if got := get(t, c, m, "/f"); got != "complete" {
		t.Errorf("get after a broken fetch = %q", got)
	}
	if s := c.statsNow(); s.Bytes != 8 {
		t.Errorf("bytes accounted = %d, want 8", s.Bytes)
	}
}

// A file that changes while it is fetched is served to the opens that
// fetched it but never kept under its key.
func TestCacheTornCopyIsNotKept(t *testing.T) {
	dir := t.TempDir()
	c, err := openCache(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := &master{files: map[string]string{"/log": "line 1\n"}, mtime: 1}
	k := m.key("/log")
	e, err := c.acquire(k, func(w io.Writer) (key, error) {
		m.files["/log"], m.mtime = "line 1\nline 2\n", 2 // written meanwhile
		io.WriteString(w, m.files["/log"])
		return m.key("/log"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readCopy(t, c, e); got != "line 1\nline 2\n" || !e.torn {
		t.Errorf("torn copy = %q (torn %v)", got, e.torn)
	}
	c.release(e)
	if names := dirFiles(t, dir); len(names) != 0 {
		t.Errorf("cache dir after releasing a torn copy = %q, want empty", names)
	}
	before := m.fetches
	get(t, c, m, "/log")
	if m.fetches != before+1 {
		t.Errorf("the next open fetched %d times, want 1", m.fetches-before)
	}
}

func TestCacheEvictsLeastRecentlyUsedUnusedCopies(t *testing.T) {
	c, err := openCache(t.TempDir(), 30)
	if err != nil {
		t.Fatal(err)
	}
	m := &master{files: map[string]string{}}
	for _, p := range []string{"/a", "/b", "/c", "/d", "/e"} {
		m.files[p] = strings.Repeat(p[1:], 10)
	}
	held, err := c.acquire(m.key("/a"), m.fetch("/a")) // open all along
	if err != nil {
		t.Fatal(err)
	}
	get(t, c, m, "/b")
	get(t, c, m, "/c")
	get(t, c, m, "/b") // b is now more recent than c
	get(t, c, m, "/d") // evicts c, not a (open) nor b
	c.mu.Lock()
	var kept []string
	for _, e := range c.entries {
		kept = append(kept, e.path)
	}
	c.mu.Unlock()
	slices.Sort(kept)
	if want := []string{"/a", "/b", "/d"}; !slices.Equal(kept, want) {
		t.Errorf("kept %q, want %q", kept, want)
	}
	// Larger than the limit with a open: b and d go, the limit is exceeded
	// only by what is open.
	m.files["/e"] = strings.Repeat("e", 25)
	e, err := c.acquire(m.key("/e"), m.fetch("/e"))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.statsNow(); s.Bytes != 35 || s.Files != 2 || s.Evictions != 3 {
		t.Errorf("with a and e open: %+v; want 35 bytes in 2 files after 3 evictions", s)
	}
	if got := readCopy(t, c, held); got != m.files["/a"] {
		t.Errorf("the open copy = %q", got)
	}
	c.release(held)
	c.release(e)
	if s := c.statsNow(); s.Bytes > 30 {
		t.Errorf("after closing: %d bytes, want <= 30", s.Bytes)
	}
}

// Complete copies survive a restart of the node daemon; partial ones do not.
func TestCacheReopenKeepsCompleteCopies(t *testing.T) {
	dir := t.TempDir()
	m := &master{files: map[string]string{"/lib.so": "ELF..."}, mtime: 7}
	c, err := openCache(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	get(t, c, m, "/lib.so")
	part := filepath.Join(dir, m.key("/x").name()+".123"+partSuffix)
	os.WriteFile(part, []byte("half"), 0o600)

	c, err = openCache(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(part); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial copy after reopening: %v, want removed", err)
	}
	before := m.fetches
	if got := get(t, c, m, "/lib.so"); got != "ELF..." || m.fetches != before {
		t.Errorf("get after reopening = %q with %d fetches, want ELF... with 0", got, m.fetches-before)
	}
}
