package master

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/wire"
)

// invalConn is a node's files connection that records what it is told.
type invalConn struct {
	ssh.Conn
	mu  sync.Mutex
	got []wire.Inval
}

func (c *invalConn) SendRequest(name string, wantReply bool, payload []byte) (bool, []byte, error) {
	var msg wire.Inval
	if name != wire.ReqInval || !wantReply || wire.Decode(name, payload, &msg) != nil {
		panic("not an inval request: " + name)
	}
	c.mu.Lock()
	c.got = append(c.got, msg)
	c.mu.Unlock()
	return true, nil, nil
}

// told is every path the node was told of so far, and whether it was
// told to drop everything.
func (c *invalConn) told() ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var paths []string
	all := false
	for _, m := range c.got {
		paths = append(paths, m.Paths...)
		paths = append(paths, m.Attrs...)
		all = all || m.All
	}
	slices.Sort(paths)
	return slices.Compact(paths), all
}

// publicDir is a directory every user may search, outside /tmp (whose
// test directories are private).
func publicDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/lib", "bproc-watch-test-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	return dir
}

func startWatch(t *testing.T) *viewWatch {
	t.Helper()
	w := &viewWatch{}
	w.start(slog.New(slog.DiscardHandler))
	if w.file == nil {
		t.Skip("no inotify")
	}
	t.Cleanup(w.close)
	return w
}

// A change of an entry in a watched directory is told to the node before
// barrier returns: a process started after it sees the change.
func TestWatchTellsChangesBeforeBarrier(t *testing.T) {
	w := startWatch(t)
	dir := publicDir(t)
	c := &invalConn{}
	n := w.attach(3, c)
	if watched, public := w.watch(n, dir); !watched || !public {
		t.Fatalf("watch %s: watched %v public %v, want both", dir, watched, public)
	}
	for _, name := range []string{"new", "other"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w.barrier(3)
	paths, all := c.told()
	want := []string{filepath.Join(dir, "new"), filepath.Join(dir, "other")}
	if all || !slices.Equal(paths, want) {
		t.Errorf("told %v (all %v), want %v", paths, all, want)
	}
	// Another node was served nothing there: it is told nothing.
	c2 := &invalConn{}
	w.attach(4, c2)
	os.Remove(filepath.Join(dir, "new"))
	w.barrier(4)
	w.barrier(3)
	if paths, all := c2.told(); len(paths) != 0 || all {
		t.Errorf("a node served nothing there was told %v %v", paths, all)
	}
	if paths, _ := c.told(); !slices.Contains(paths, filepath.Join(dir, "new")) {
		t.Errorf("removal not told: %v", paths)
	}
	// A directory's mode changed: told as attributes alone (the node
	// keeps its entry, a working directory for some).
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	w.barrier(3)
	os.Chmod(sub, 0o700)
	w.barrier(3)
	c.mu.Lock()
	last := c.got[len(c.got)-1]
	c.mu.Unlock()
	if !slices.Equal(last.Attrs, []string{sub}) || len(last.Paths) != 0 {
		t.Errorf("chmod of a directory told as %+v, want its attributes alone", last)
	}
}

// A directory not every user may search is watched but not public: a
// node's kernel must not share its answers between users.
func TestWatchPrivateDirectory(t *testing.T) {
	w := startWatch(t)
	private := filepath.Join(publicDir(t), "private")
	os.Mkdir(private, 0o700)
	sub := filepath.Join(private, "sub")
	os.Mkdir(sub, 0o755)
	n := w.attach(1, &invalConn{})
	// As a node's lookups walk down: each directory on the way is
	// watched before the one below it.
	w.watch(n, filepath.Dir(private))
	w.watch(n, private)
	if watched, public := w.watch(n, sub); !watched || public {
		t.Errorf("below a 0700 directory: watched %v public %v, want watched, not public", watched, public)
	}
	// Made public: the next answer says so.
	os.Chmod(private, 0o755)
	w.barrier(1)
	if _, public := w.watch(n, sub); !public {
		t.Error("made searchable by all: still not public")
	}
	// Made private again: answers below are no longer anyone's.
	os.Chmod(private, 0o700)
	w.barrier(1)
	if _, public := w.watch(n, sub); public {
		t.Error("made private again: still public")
	}
}

// What a node may have watched is bounded: the least recently served
// directory goes, and the node is told to drop what it had from there.
func TestWatchBoundedPerNode(t *testing.T) {
	w := startWatch(t)
	w.perNode = 2
	base := publicDir(t)
	var dirs []string
	for _, name := range []string{"a", "b", "c"} {
		d := filepath.Join(base, name)
		os.Mkdir(d, 0o755)
		dirs = append(dirs, d)
	}
	c := &invalConn{}
	n := w.attach(1, c)
	w.watch(n, dirs[0])
	w.watch(n, dirs[1])
	w.watch(n, dirs[0]) // used again: b is now the oldest
	w.watch(n, dirs[2])
	w.barrier(1)
	if paths, _ := c.told(); !slices.Equal(paths, []string{dirs[1]}) {
		t.Errorf("told %v, want the dropped %s", paths, dirs[1])
	}
	w.mu.Lock()
	_, kept := w.dirs[dirs[1]]
	nwatch := len(w.wds)
	w.mu.Unlock()
	if kept || nwatch != 2 {
		t.Errorf("after dropping b: b still watched %v, %d watches, want 2", kept, nwatch)
	}
	// The master's own bound: no more watches, the answer is unwatched.
	w.max = 2
	if watched, _ := w.watch(n, base); watched {
		t.Error("past the master's bound: still watched")
	}
	// A node gone: its watches go with it.
	w.detach(n)
	w.mu.Lock()
	nwatch = len(w.wds)
	w.mu.Unlock()
	if nwatch != 0 {
		t.Errorf("%d watches left after the node's connection ended", nwatch)
	}
}

// barrier runs for every process started, each in a goroutine of its own
// (serveGhost): it must not need a large stack. Reading events into a
// 64 kB array on the stack grew every such goroutine's stack to 128 kB,
// copied and cleared, per process launched.
func TestWatchBarrierSmallStack(t *testing.T) {
	w := startWatch(t)
	const n = 64
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	release := make(chan struct{})
	var ready, done sync.WaitGroup
	for range n {
		ready.Add(1)
		done.Go(func() {
			w.barrier(1)
			ready.Done()
			<-release // hold the stack while it is measured
		})
	}
	ready.Wait()
	runtime.ReadMemStats(&after)
	close(release)
	done.Wait()
	perG := (int64(after.StackInuse) - int64(before.StackInuse)) / n
	if perG > 32<<10 {
		t.Errorf("a goroutine that called barrier holds %d kB of stack, want at most 32 kB", perG>>10)
	}
}
