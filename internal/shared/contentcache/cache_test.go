package contentcache

import (
	"crypto/sha256"
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

// master is a fake master: files by path, and a count of the fetches it
// served.
type master struct {
	mu      sync.Mutex
	files   map[string]string
	fetches int
}

func (m *master) sum(p string) (Sum, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sha256.Sum256([]byte(m.files[p])), int64(len(m.files[p]))
}

func (m *master) fetch(p string) FetchFunc {
	return func(w *Writer) error {
		m.mu.Lock()
		m.fetches++
		s := m.files[p]
		m.mu.Unlock()
		_, err := io.WriteString(w, s)
		return err
	}
}

func (m *master) acquire(c *Cache, p string, fetch FetchFunc) (*Entry, error) {
	sum, size := m.sum(p)
	return c.Acquire(p, sum, size, fetch)
}

// get acquires p, reads the copy and releases it.
func get(t *testing.T, c *Cache, m *master, p string) string {
	t.Helper()
	e, err := m.acquire(c, p, m.fetch(p))
	if err != nil {
		t.Fatalf("acquire(%s) = %v", p, err)
	}
	defer c.Release(e)
	return readCopy(t, c, e)
}

func readCopy(t *testing.T, c *Cache, e *Entry) string {
	t.Helper()
	f, err := c.Open(e)
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

func dirFiles(t *testing.T, c *Cache) []string {
	t.Helper()
	ents, err := os.ReadDir(c.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func open(t *testing.T, dir string, limit int64) *Cache {
	t.Helper()
	c, err := Open(dir, limit)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHitAndChangedContent(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	m := &master{files: map[string]string{"/a": "one"}}
	for i := 0; i < 3; i++ {
		if got := get(t, c, m, "/a"); got != "one" {
			t.Fatalf("get %d = %q, want one", i, got)
		}
	}
	if m.fetches != 1 {
		t.Errorf("3 gets of an unchanged file fetched %d times, want 1", m.fetches)
	}
	m.files["/a"] = "two" // same size: only the sum tells
	if got := get(t, c, m, "/a"); got != "two" {
		t.Errorf("get after the change = %q, want two", got)
	}
	// No path has the old content any more: it is gone.
	sum, _ := m.sum("/a")
	if names := dirFiles(t, c); len(names) != 1 || names[0] != sum.String() {
		t.Errorf("cache dir = %q, want only the new copy", names)
	}
	if s := c.Stats(); s.Fetches != 2 || s.Hits != 2 || s.Files != 1 || s.Bytes != 3 {
		t.Errorf("stats = %+v", s)
	}
}

// Two paths with the same content are one copy, fetched once; the copy
// stays while either path has that content.
func TestSameContentOnce(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	m := &master{files: map[string]string{"/usr/lib/a.so": "ELF same", "/opt/lib/a.so": "ELF same"}}
	get(t, c, m, "/usr/lib/a.so")
	get(t, c, m, "/opt/lib/a.so")
	if s := c.Stats(); m.fetches != 1 || s.Files != 1 || s.Bytes != 8 || s.Hits != 1 {
		t.Errorf("two paths of one content: %d fetches, stats %+v; want 1 fetch, 1 copy of 8 bytes", m.fetches, s)
	}
	m.files["/usr/lib/a.so"] = "ELF new!"
	get(t, c, m, "/usr/lib/a.so")
	before := m.fetches
	if got := get(t, c, m, "/opt/lib/a.so"); got != "ELF same" || m.fetches != before {
		t.Errorf("the other path after one changed: %q with %d fetches; want ELF same with 0", got, m.fetches-before)
	}
	if s := c.Stats(); s.Files != 2 {
		t.Errorf("%d copies, want 2 (each content once)", s.Files)
	}
}

func TestFetchesOnceForConcurrentAcquires(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	m := &master{files: map[string]string{"/big": strings.Repeat("x", 1<<20)}}
	gate := make(chan struct{})
	fetch := m.fetch("/big")
	slow := func(w *Writer) error {
		<-gate
		return fetch(w)
	}
	const n = 8
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Go(func() {
			e, err := m.acquire(c, "/big", slow)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Release(e)
			if e.Size() != 1<<20 {
				t.Errorf("copy size %d", e.Size())
			}
		})
	}
	for c.Stats().Shared < n-1 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	if m.fetches != 1 {
		t.Errorf("%d concurrent acquires fetched %d times, want 1", n, m.fetches)
	}
}

// A fetch that breaks (the node lost the master) leaves no copy and no
// partial file, and the next acquire fetches again.
func TestFailedFetchLeavesNothing(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	m := &master{files: map[string]string{"/f": "complete"}}
	errLost := errors.New("connection lost")
	_, err := m.acquire(c, "/f", func(w *Writer) error {
		io.WriteString(w, "comp")
		return errLost
	})
	if !errors.Is(err, errLost) {
		t.Fatalf("acquire with a broken fetch = %v, want %v", err, errLost)
	}
	if names := dirFiles(t, c); len(names) != 0 {
		t.Errorf("cache dir after a broken fetch = %q, want empty", names)
	}
	if got := get(t, c, m, "/f"); got != "complete" {
		t.Errorf("get after a broken fetch = %q", got)
	}
	if s := c.Stats(); s.Bytes != 8 {
		t.Errorf("bytes accounted = %d, want 8", s.Bytes)
	}
}

// Bytes that are not the content asked for (the file changed on the
// master after its sum was taken, or a peer sent other bytes) are served
// to the acquire that fetched them but never kept under the sum.
func TestTornCopyIsNotKept(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	m := &master{files: map[string]string{"/log": "line 1\n"}}
	e, err := m.acquire(c, "/log", func(w *Writer) error {
		m.files["/log"] = "line 1\nline 2\n" // written meanwhile
		_, err := io.WriteString(w, m.files["/log"])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readCopy(t, c, e); got != "line 1\nline 2\n" || !e.Torn() {
		t.Errorf("torn copy = %q (torn %v)", got, e.Torn())
	}
	c.Release(e)
	if names := dirFiles(t, c); len(names) != 0 {
		t.Errorf("cache dir after releasing a torn copy = %q, want empty", names)
	}
	before := m.fetches
	get(t, c, m, "/log")
	if m.fetches != before+1 {
		t.Errorf("the next acquire fetched %d times, want 1", m.fetches-before)
	}
	// Same size, other bytes: torn too.
	sum, size := m.sum("/log")
	e, err = c.Acquire("/other", Sum{1}, size, m.fetch("/log"))
	if err != nil || !e.Torn() {
		t.Errorf("bytes of another sum: %v, torn %v; want torn", err, e != nil && e.Torn())
	}
	c.Release(e)
	if e := c.Hold(sum); e == nil {
		t.Error("the right copy went with the torn one")
	} else {
		c.Release(e)
	}
}

// With no sum, a copy is the acquire's own: fetched every time, never
// kept.
func TestZeroSumIsPrivate(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	m := &master{files: map[string]string{"/f": "data"}}
	for i := 0; i < 2; i++ {
		e, err := c.Acquire("/f", Sum{}, 4, m.fetch("/f"))
		if err != nil || !e.Torn() || readCopy(t, c, e) != "data" {
			t.Fatalf("acquire with no sum: %v", err)
		}
		c.Release(e)
	}
	if names := dirFiles(t, c); m.fetches != 2 || len(names) != 0 {
		t.Errorf("%d fetches, copies %q; want 2 and none", m.fetches, names)
	}
}

func TestEvictsLeastRecentlyUsedUnusedCopies(t *testing.T) {
	c := open(t, t.TempDir(), 30)
	m := &master{files: map[string]string{}}
	for _, p := range []string{"/a", "/b", "/c", "/d", "/e"} {
		m.files[p] = strings.Repeat(p[1:], 10)
	}
	held, err := m.acquire(c, "/a", m.fetch("/a")) // held all along
	if err != nil {
		t.Fatal(err)
	}
	get(t, c, m, "/b")
	get(t, c, m, "/c")
	get(t, c, m, "/b") // b is now more recent than c
	get(t, c, m, "/d") // evicts c, not a (held) nor b
	var kept []string
	for _, p := range []string{"/a", "/b", "/c", "/d"} {
		sum, _ := m.sum(p)
		if e := c.Hold(sum); e != nil {
			kept = append(kept, p)
			c.Release(e)
		}
	}
	if want := []string{"/a", "/b", "/d"}; !slices.Equal(kept, want) {
		t.Errorf("kept %q, want %q", kept, want)
	}
	// Larger than the limit with a held: b and d go, the limit is exceeded
	// only by what is held.
	m.files["/e"] = strings.Repeat("e", 25)
	e, err := m.acquire(c, "/e", m.fetch("/e"))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Bytes != 35 || s.Files != 2 || s.Evictions != 3 {
		t.Errorf("with a and e held: %+v; want 35 bytes in 2 files after 3 evictions", s)
	}
	if got := readCopy(t, c, held); got != m.files["/a"] {
		t.Errorf("the held copy = %q", got)
	}
	c.Release(held)
	c.Release(e)
	if s := c.Stats(); s.Bytes > 30 {
		t.Errorf("after releasing: %d bytes, want <= 30", s.Bytes)
	}
}

// Complete copies survive a restart of the node daemon; partial ones and
// files that are not sums do not count.
func TestReopenKeepsCompleteCopies(t *testing.T) {
	dir := t.TempDir()
	m := &master{files: map[string]string{"/lib.so": "ELF..."}}
	c := open(t, dir, 0)
	get(t, c, m, "/lib.so")
	part := filepath.Join(c.Dir(), Sum{7}.String()+".123"+partSuffix)
	os.WriteFile(part, []byte("half"), 0o600)

	c = open(t, dir, 0)
	if _, err := os.Stat(part); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial copy after reopening: %v, want removed", err)
	}
	before := m.fetches
	if got := get(t, c, m, "/lib.so"); got != "ELF..." || m.fetches != before {
		t.Errorf("get after reopening = %q with %d fetches, want ELF... with 0", got, m.fetches-before)
	}
}

// A copy is served to another node while it arrives, and whole: also when
// asked for before its fetch has made a file.
func TestServeCopy(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	m := &master{files: map[string]string{"/big": strings.Repeat("0123456789", 100000)}}
	sum, size := m.sum("/big")
	if _, err := c.ServeCopy(sum, size, io.Discard); !errors.Is(err, ErrNoCopy) {
		t.Errorf("serving a copy the cache lacks = %v, want ErrNoCopy", err)
	}
	starting := make(chan struct{})
	c.SetBeforeFetch(func() { <-starting })
	gate := make(chan struct{})
	done := make(chan *Entry)
	go func() {
		e, err := c.Acquire("/big", sum, size, func(w *Writer) error {
			io.WriteString(w, m.files["/big"][:size/2])
			<-gate
			_, err := io.WriteString(w, m.files["/big"][size/2:])
			return err
		})
		if err != nil {
			t.Error(err)
		}
		done <- e
	}()
	for {
		if e := c.Hold(sum); e != nil {
			c.Release(e)
			break
		}
		time.Sleep(time.Millisecond)
	}
	var got strings.Builder
	served := make(chan error)
	go func() {
		_, err := c.ServeCopy(sum, size, &got)
		served <- err
	}()
	time.Sleep(20 * time.Millisecond) // asked before the fetch has a file
	close(starting)
	time.Sleep(20 * time.Millisecond) // and while half of it is there
	close(gate)
	if err := <-served; err != nil || got.String() != m.files["/big"] {
		t.Errorf("served %d bytes, %v; want the whole copy", got.Len(), err)
	}
	c.Release(<-done)
}
