package master

import (
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/wire"
)

// The master watches what it served the nodes' views, so that a node's
// kernel may keep names, attributes and links for long instead of asking
// again every second: each directory in which a node was answered an
// lstat or stat (and each directory so answered) gets an inotify watch,
// and a change of an entry in it is sent to the nodes that were answered
// there (wire.ReqInval). Before a process starts on a node, the master
// reads every change the kernel queued so far and waits until that node
// has dropped what changed (barrier): `cp new prog; bpsh 0 prog` runs the
// new program.
//
// What the master holds is bounded: watchPerNode directories per node
// (the least recently served one is dropped, and the node told to forget
// what it had from there) and watchMax in all. A directory that cannot be
// watched (the bounds, a file system whose changes inotify does not see,
// no inotify at all) is answered unwatched, and the node caches its
// entries for a second, as before.
const (
	watchPerNode = 4096
	watchMax     = 32768
	// watchMask: every change of an entry of the directory, or of the
	// directory itself. IN_MODIFY too, not only IN_CLOSE_WRITE: a program
	// started while a file is written sees the file as it is then.
	watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE |
		unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
		unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK
	// barrierWait bounds how long a start waits for a node to drop what
	// changed: a node that does not answer gets its process anyway.
	barrierWait = 2 * time.Second
)

// viewWatch is the master's watches of what it served the views. Its zero
// value watches nothing until start.
type viewWatch struct {
	log *slog.Logger

	// mu guards everything below, and is held while reading and
	// dispatching events, so that a barrier that finds nothing more to
	// read knows every change before it was dispatched.
	mu        sync.Mutex
	file      *os.File // the inotify descriptor; nil: nothing is watched
	fd        int
	dirs      map[string]*watchDir
	wds       map[int32]*watchDir
	nodes     map[int]*watchNode
	publicGen uint64 // bumped when a directory's mode may have changed
	// perNode and max are watchPerNode and watchMax (a test's smaller).
	perNode, max int
	// buf is what events are read into: one for the watch, since every
	// process started drains it (barrier), and 64 kB made and cleared
	// for each was a sixth of a launch's master CPU.
	buf []byte
}

// watchDir is one watched directory.
type watchDir struct {
	path      string
	wd        int32
	nodes     map[*watchNode]*list.Element // in each node's lru
	public    bool                         // every directory down to it is searchable by all
	publicGen uint64
}

// watchNode is one node's files connection and what was served on it.
type watchNode struct {
	num  int
	conn ssh.Conn
	lru  *list.List // of *watchDir, most recently served first

	// pending are the paths to tell the node of, true for an entry
	// that changed, false for attributes alone (all: everything).
	pending map[string]bool
	all     bool
	kick    chan struct{}
	sendMu  sync.Mutex // one ReqInval at a time, in order
	done    chan struct{}
}

// start opens the inotify instance and reads it until close.
func (w *viewWatch) start(log *slog.Logger) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		log.Warn("no watches of what the views were served: nodes cache for a second", "err", err)
		return
	}
	w.mu.Lock()
	w.log, w.fd, w.file = log, fd, os.NewFile(uintptr(fd), "inotify")
	w.dirs, w.wds, w.nodes = map[string]*watchDir{}, map[int32]*watchDir{}, map[int]*watchNode{}
	w.publicGen = 1 // a new watchDir's 0 is never current
	w.perNode, w.max = watchPerNode, watchMax
	f := w.file
	w.mu.Unlock()
	go w.read(f)
}

// close stops watching; nodes are told nothing more.
func (w *viewWatch) close() {
	w.mu.Lock()
	f := w.file
	w.file = nil
	for _, n := range w.nodes {
		close(n.done)
	}
	w.nodes = map[int]*watchNode{}
	w.mu.Unlock()
	if f != nil {
		f.Close()
	}
}

// read waits for events and dispatches them.
func (w *viewWatch) read(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	for {
		err := rc.Read(func(uintptr) bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			return w.drainLocked()
		})
		if err != nil {
			return // closed
		}
	}
}

// drainLocked reads and dispatches every queued event; false when there
// was none (the poller waits then).
func (w *viewWatch) drainLocked() bool {
	if w.file == nil {
		return true
	}
	if w.buf == nil {
		w.buf = make([]byte, 64<<10)
	}
	any := false
	for {
		n, err := unix.Read(w.fd, w.buf)
		if n <= 0 || err != nil {
			return any
		}
		any = true
		w.dispatchLocked(w.buf[:n])
	}
}

// dispatchLocked queues, for the nodes that were served there, the paths
// that events in buf name.
func (w *viewWatch) dispatchLocked(buf []byte) {
	for off := 0; off+unix.SizeofInotifyEvent <= len(buf); {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		nameEnd := off + unix.SizeofInotifyEvent + int(ev.Len)
		if nameEnd > len(buf) {
			return
		}
		name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:nameEnd]), "\x00")
		off = nameEnd
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			// Changes were lost: every node forgets everything.
			for _, n := range w.nodes {
				n.all = true
				w.kickLocked(n)
			}
			w.publicGen++
			continue
		}
		d := w.wds[ev.Wd]
		if d == nil {
			continue // a watch already dropped
		}
		if ev.Mask&unix.IN_ATTRIB != 0 && (name == "" || ev.Mask&unix.IN_ISDIR != 0) {
			w.publicGen++ // a directory's mode may have changed
		}
		if name == "" || ev.Mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED) != 0 {
			// The directory itself: its path no longer names it (its
			// nodes drop it and all beneath), or its mode changed.
			gone := ev.Mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED) != 0
			for n := range d.nodes {
				w.queueLocked(n, d.path, gone)
			}
			if gone {
				w.dropLocked(d, ev.Mask&unix.IN_IGNORED == 0)
			}
			continue
		}
		p := path.Join(d.path, name)
		// Made, removed or renamed: the name holds another thing now.
		// Otherwise only its attributes (or a file's content) changed:
		// a node keeps a directory's entry, which processes may have
		// as their working directory.
		entry := ev.Mask&(unix.IN_CREATE|unix.IN_DELETE|unix.IN_MOVED_FROM|unix.IN_MOVED_TO) != 0 ||
			ev.Mask&unix.IN_ISDIR == 0
		for n := range d.nodes {
			w.queueLocked(n, p, entry)
		}
	}
}

func (w *viewWatch) queueLocked(n *watchNode, p string, entry bool) {
	if !n.all {
		n.pending[p] = n.pending[p] || entry
		if len(n.pending) > wire.MaxInvalPaths {
			n.all, n.pending = true, map[string]bool{}
		}
	}
	w.kickLocked(n)
}

func (w *viewWatch) kickLocked(n *watchNode) {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// dropLocked forgets d for every node (rm: and removes its watch).
func (w *viewWatch) dropLocked(d *watchDir, rm bool) {
	for n, e := range d.nodes {
		n.lru.Remove(e)
	}
	d.nodes = nil
	delete(w.wds, d.wd)
	if w.dirs[d.path] == d {
		delete(w.dirs, d.path)
	}
	if rm {
		unix.InotifyRmWatch(w.fd, uint32(d.wd))
	}
}

// attach starts recording what node num is served on its files
// connection conn; nil when nothing is watched.
func (w *viewWatch) attach(num int, conn ssh.Conn) *watchNode {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.file == nil {
		return nil
	}
	if old := w.nodes[num]; old != nil {
		w.detachLocked(old)
	}
	n := &watchNode{num: num, conn: conn, lru: list.New(), pending: map[string]bool{},
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	w.nodes[num] = n
	go w.send(n)
	return n
}

// detach forgets n's connection (it ended): its watches go, and the node
// drops what it cached of them when it notices the connection gone.
func (w *viewWatch) detach(n *watchNode) {
	if n == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.nodes[n.num] == n {
		w.detachLocked(n)
	}
}

func (w *viewWatch) detachLocked(n *watchNode) {
	delete(w.nodes, n.num)
	for e := n.lru.Front(); e != nil; e = e.Next() {
		w.unwatchLocked(n, e.Value.(*watchDir))
	}
	n.lru.Init()
	close(n.done)
}

// unwatchLocked takes n off d, and d's watch away when nobody is on it.
func (w *viewWatch) unwatchLocked(n *watchNode, d *watchDir) {
	delete(d.nodes, n)
	if len(d.nodes) == 0 {
		w.dropLocked(d, true)
	}
}

// watch makes sure n is told of changes of the entries of directory dir
// from now on, and says whether it will be (false: the node caches
// briefly) and whether every user could search down to dir.
func (w *viewWatch) watch(n *watchNode, dir string) (watched, public bool) {
	if n == nil {
		return false, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.file == nil || w.nodes[n.num] != n {
		return false, false
	}
	d := w.dirs[dir]
	if d == nil {
		var err error
		if d, err = w.addLocked(dir); err != nil {
			return false, false
		}
	}
	if e := d.nodes[n]; e != nil {
		n.lru.MoveToFront(e)
	} else {
		d.nodes[n] = n.lru.PushFront(d)
		if n.lru.Len() > w.perNode {
			old := n.lru.Back().Value.(*watchDir)
			n.lru.Remove(n.lru.Back())
			// The node's kernel keeps what it had from there until told.
			w.queueLocked(n, old.path, true)
			w.unwatchLocked(n, old)
		}
	}
	if d.publicGen != w.publicGen {
		d.public, d.publicGen = searchable(dir), w.publicGen
	}
	return true, d.public
}

// addLocked starts watching dir, as root: the answers it guards were
// given as the user (their lstat or stat), the watch only says when to
// ask again.
func (w *viewWatch) addLocked(dir string) (*watchDir, error) {
	if len(w.wds) >= w.max {
		return nil, errors.New("too many watches")
	}
	if !path.IsAbs(dir) || path.Clean(dir) != dir {
		return nil, fmt.Errorf("%q: not a clean absolute path", dir)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return nil, err
	}
	if !slices.Contains(localFS, int64(sfs.Type)) {
		return nil, fmt.Errorf("%s: file system %#x: changes made elsewhere are not seen", dir, sfs.Type)
	}
	wd, err := unix.InotifyAddWatch(w.fd, dir, watchMask)
	if err != nil {
		return nil, err
	}
	if other := w.wds[int32(wd)]; other != nil {
		// The same directory by another path (a bind mount): its events
		// would name one of them only.
		return nil, fmt.Errorf("%s: also watched as %s", dir, other.path)
	}
	d := &watchDir{path: dir, wd: int32(wd), nodes: map[*watchNode]*list.Element{}}
	w.dirs[dir], w.wds[d.wd] = d, d
	return d, nil
}

// localFS are the file systems whose every change inotify reports: changes
// made by other machines (NFS, CIFS, FUSE, 9p, ...) are not, and a
// directory there is answered unwatched. (A slice: static data, where a
// map would be built at every start of the binary, bpsh's too.)
var localFS = []int64{
	unix.EXT4_SUPER_MAGIC, // ext2, ext3, ext4
	unix.XFS_SUPER_MAGIC,
	unix.BTRFS_SUPER_MAGIC,
	unix.TMPFS_MAGIC,
	unix.OVERLAYFS_SUPER_MAGIC,
	unix.F2FS_SUPER_MAGIC,
	unix.RAMFS_MAGIC,
	0x2fc12fc1, // zfs
}

// searchable says whether every directory from / down to dir may be
// searched by anyone (others' x bit): then an answer about an entry there
// is one any user could have had, and a node's kernel may share it.
func searchable(dir string) bool {
	p := "/"
	for _, c := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
		if c != "" {
			p = path.Join(p, c)
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o001 == 0 {
			return false
		}
	}
	return true
}

// send tells n's node what changed, whenever something did.
func (w *viewWatch) send(n *watchNode) {
	for {
		select {
		case <-n.done:
			return
		case <-n.kick:
			w.flush(n)
		}
	}
}

// flush sends n's pending paths and waits for the node's reply.
func (w *viewWatch) flush(n *watchNode) {
	n.sendMu.Lock()
	defer n.sendMu.Unlock()
	w.mu.Lock()
	msg := wire.Inval{All: n.all}
	if !n.all {
		for p, entry := range n.pending {
			if entry {
				msg.Paths = append(msg.Paths, p)
			} else {
				msg.Attrs = append(msg.Attrs, p)
			}
		}
	}
	n.pending, n.all = map[string]bool{}, false
	w.mu.Unlock()
	if !msg.All && len(msg.Paths)+len(msg.Attrs) == 0 {
		return
	}
	if _, _, err := n.conn.SendRequest(wire.ReqInval, true, wire.Encode(msg)); err != nil && w.log != nil {
		w.log.Debug("telling a node what changed", "node", n.num, "err", err)
	}
}

// barrier returns once node num has dropped every change made on the
// master so far to what it was served, or after barrierWait.
func (w *viewWatch) barrier(num int) {
	w.mu.Lock()
	if w.file == nil {
		w.mu.Unlock()
		return
	}
	w.drainLocked()
	n := w.nodes[num]
	idle := n == nil || !n.all && len(n.pending) == 0
	w.mu.Unlock()
	if n == nil {
		return
	}
	if idle && n.sendMu.TryLock() {
		n.sendMu.Unlock() // and no send in progress: nothing to wait for
		return
	}
	done := make(chan struct{})
	go func() {
		if idle {
			// A send in progress may carry the changes: wait for it.
			n.sendMu.Lock()
			n.sendMu.Unlock()
		} else {
			w.flush(n)
		}
		close(done)
	}()
	t := time.NewTimer(barrierWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		if w.log != nil {
			w.log.Warn("node did not confirm dropping what changed; starting anyway", "node", num)
		}
	}
}
