// Package nodeview shows a node the master's files: a read-only FUSE file
// system whose content is fetched over sftp when a program opens a file,
// kept in a cache on the node's tmpfs, and read from there.
//
// It is where the files a program opens at run time come from on a
// diskless node (Python's modules, locale data, /etc/passwd for name
// lookups, plugins loaded with dlopen, data files), the ones the node's
// executable cache does not push ahead of the program.
//
// Every FUSE request carries the uid and gid of the process that made it,
// and the view answers it through an sftp session that acts as that user on
// the master: a user never reads through the node a file they could not read
// on the master, because the master's kernel checks every open. The mount
// is therefore made with allow_other (every user of the node may use it) and
// without default_permissions (the node's kernel does not judge by the
// mode bits; the master does).
//
// What is cached, and for whom:
//
//   - Content is cached by its SHA-256 (package contentcache), which the
//     master gives in its answer to the fstat of a file the caller's
//     session opened, and shared by all users and all paths with that
//     content, but only served to a user whose own session has just
//     opened the file on the master: the open, not the cache, is the
//     check.
//   - The node's kernel caches names, attributes and symbolic links and
//     shares them between users, as it does for any file system, for
//     Options.Timeout (1 s by default), or for Options.WatchedTimeout (an
//     hour) when the master said the answer is watched
//     (wire.StatWatched): the master then tells the node when the entry
//     changes (wire.ReqInval; Invalidate drops it from the kernel), and
//     tells it before it starts the next process there, so `cp new prog;
//     bpsh 0 prog` runs the new program. The master says so only of an
//     entry any user could have looked up (every directory on the way is
//     searchable by all), so the kernel shares nothing one user could not
//     have asked for; entries below private directories keep the short
//     timeout, within which one user may see the attributes of a name
//     another looked up (never its content). A timeout of 0 turns the
//     kernel's caches off at the price of one round trip per path
//     component of every path a program uses.
//   - The view itself keeps, for a watched entry, what each user's session
//     was answered: a user whose session opened a version of a file (the
//     master's check) opens it again from the copy without asking, until
//     the entry changes or the session ends (grant.go).
package nodeview

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/pkg/sftp"

	"github.com/bproc/bproc/internal/shared/contentcache"
)

// Options says what a view shows and where it keeps its copies.
type Options struct {
	// Dial opens an sftp session to the master that acts as uid and gid
	// there: every file operation in it is done with that user's
	// credentials by the master's kernel. It is called on a user's first
	// request and again after that user's session was idle or broke.
	// On a node it is slave.Files.
	Dial func(uid, gid uint32) (*sftp.Client, error)

	// Root is the master's path the view shows at its mount point; "/"
	// when empty.
	Root string

	// Exclude are master paths the view does not show (the node has its
	// own). Nil means /proc, /sys and /dev.
	Exclude []string

	// MountPoints are master paths the view shows as empty directories,
	// whatever the master has there (or not), for the node's own file
	// systems to be mounted on: /proc, /tmp. Their parents must be
	// directories every user may list on the master (usually they are
	// right under Root).
	MountPoints []string

	// CacheDir holds the copies of master files (in CacheDir/sha256, by
	// content): a directory on the node's tmpfs that only the node daemon
	// uses. It is made if missing; complete copies left by an earlier
	// mount are used again.
	CacheDir string

	// CacheSize is the limit of the cache in bytes; 0 is no limit. Copies
	// in use are never evicted, so an open of a file larger than the limit
	// still works.
	CacheSize int64

	// Timeout is how long the node's kernel may trust a name or attributes
	// it got from the view that the master does not watch (a missing name
	// is not kept at all then). 0 means 1 s; a negative value turns the
	// kernel caches off, for watched answers too.
	Timeout time.Duration

	// WatchedTimeout is how long the node's kernel may trust an answer
	// the master watches (see the package comment). 0 means an hour.
	WatchedTimeout time.Duration

	// IdleTimeout closes a user's session unused for this long; 0 means
	// a minute.
	IdleTimeout time.Duration

	// NoPassthrough serves every read through this process. By default the
	// kernel reads an open copy of a file over 4 MiB (cachedMax) directly
	// (FUSE passthrough, Linux 6.9 and CAP_SYS_ADMIN) where it can, and
	// through this process where not; smaller files are read through
	// the node's page cache.
	NoPassthrough bool

	// Upper, when set, is a directory of the node's own file system that
	// takes what programs write (see upper.go); the view is read-only
	// without it.
	Upper string

	// Peers, when set, fetches files of PeerMin bytes and more from other
	// nodes when the master names one (see Peers).
	Peers   Peers
	PeerMin int64 // 0: every file with content (defaultPeerMin)

	// Log receives a line for every failure that is not an answer about
	// the file (a session that cannot be dialed, a fetch that broke).
	// Nil discards them.
	Log *slog.Logger

	// requestLog, when set, receives go-fuse's line for every request the
	// kernel sends and every answer: the tests count what reaches the
	// view.
	requestLog io.Writer
}

// View is a mounted view of the master's files.
type View struct {
	dir     string
	root    string
	exclude map[string]bool
	// mountPoints: see Options.MountPoints.
	mountPoints map[string]bool
	sessions    *sessions
	cache       *contentcache.Cache
	server      *fuse.Server
	log         *slog.Logger
	// passthrough: offer the kernel the copies' descriptors.
	passthrough bool
	peers       Peers
	peerMin     int64
	upper       string   // see Options.Upper
	up          *upperFS // the upper directory, opened; nil without one

	// short and long are the kernel's timeouts for an answer the master
	// does not watch, and for one it does (0: no caching).
	short, long time.Duration
	// gen counts invalidations: an answer asked before one and given
	// after it is not trusted long (see trust).
	gen     atomic.Uint64
	invalMu sync.Mutex // one Invalidate at a time
	rootIn  *fs.Inode  // set when mounted
	// mountAncestors are the master paths on the way to a mount point
	// (and the root): dropping one of their entries from the kernel would
	// unmount what is mounted beneath (see inval.go).
	mountAncestors map[string]bool
}

// Stats counts what a view did since it was mounted.
type Stats struct {
	contentcache.Stats
	Dials    int64 // sftp sessions opened
	Sessions int   // open now
}

// Stats returns the counters of v.
func (v *View) Stats() Stats {
	return Stats{
		Stats:    v.cache.Stats(),
		Dials:    v.sessions.dials.Load(),
		Sessions: v.sessions.count(),
	}
}

// Dir is where v is mounted.
func (v *View) Dir() string { return v.dir }

var defaultExclude = []string{"/proc", "/sys", "/dev"}

// newView checks opts and builds the view, not yet mounted.
func newView(dir string, opts Options) (*View, error) {
	if opts.Dial == nil {
		return nil, errors.New("nodeview: Options.Dial is nil")
	}
	if opts.CacheDir == "" {
		return nil, errors.New("nodeview: Options.CacheDir is empty")
	}
	root := opts.Root
	if root == "" {
		root = "/"
	}
	if !path.IsAbs(root) {
		return nil, fmt.Errorf("nodeview: root %q is not an absolute path", root)
	}
	ex := opts.Exclude
	if ex == nil {
		ex = defaultExclude
	}
	exclude := make(map[string]bool, len(ex))
	for _, p := range ex {
		exclude[path.Clean(p)] = true
	}
	mountPoints := make(map[string]bool, len(opts.MountPoints))
	mountAncestors := map[string]bool{path.Clean(root): true}
	for _, p := range opts.MountPoints {
		p = path.Clean(p)
		mountPoints[p] = true
		for a := path.Dir(p); ; a = path.Dir(a) {
			mountAncestors[a] = true
			if a == "/" || a == "." {
				break
			}
		}
	}
	c, err := contentcache.Open(opts.CacheDir, opts.CacheSize)
	if err != nil {
		return nil, err
	}
	idle := opts.IdleTimeout
	if idle <= 0 {
		idle = time.Minute
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &View{
		dir:         dir,
		root:        path.Clean(root),
		exclude:     exclude,
		mountPoints: mountPoints,
		sessions:    newSessions(opts.Dial, idle),
		cache:       c,
		log:         log,

		passthrough: !opts.NoPassthrough,
		upper:       opts.Upper,
		peers:       opts.Peers,
		peerMin:     cmp.Or(opts.PeerMin, defaultPeerMin),

		short:          opts.timeout(),
		long:           opts.watchedTimeout(),
		mountAncestors: mountAncestors,
	}, nil
}

// timeout is the kernel cache timeout opts ask for.
func (o Options) timeout() time.Duration {
	switch {
	case o.Timeout == 0:
		return time.Second
	case o.Timeout < 0:
		return 0
	}
	return o.Timeout
}

// watchedTimeout is the kernel cache timeout of watched answers.
func (o Options) watchedTimeout() time.Duration {
	switch {
	case o.timeout() == 0:
		return 0
	case o.WatchedTimeout <= 0:
		return time.Hour
	}
	return o.WatchedTimeout
}

// masterPath is the master's path of rel, a path relative to the view's
// root ("" for the root itself).
func (v *View) masterPath(rel string) string {
	return path.Join(v.root, rel)
}
