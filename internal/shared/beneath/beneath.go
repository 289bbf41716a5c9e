// Package beneath resolves paths beneath a directory descriptor without
// following any symlink: what code acting as root on paths that users can
// change (a node's pushed programs, bpsh's -I/-O files) uses, so that a
// user's symlink never sends root's write somewhere else. Every lookup is
// openat2(2) with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS (Linux 5.6), and
// what follows is done on the descriptors it returns (*at calls, fchmod,
// fchown), never on a path string joined again. Walk is the one walk
// that follows symlinks, one component at a time on descriptors, and only
// those its Follow rule allows (FollowAs: protected_symlinks' rule, and
// none of another user's for root), for code that must resolve links as
// its caller would, but safely (bpcp's file server on a node).
package beneath

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// resolve is how every lookup here walks: never above the directory it
// starts from, never through a symlink (magic links included).
const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// ErrSymlink is returned (wrapped, with the path) when a symlink stands
// where a lookup needs a directory or the file itself.
var ErrSymlink = errors.New("is a symlink; not following it")

// Rel is p as a path relative to the root it is beneath: "/usr/bin/ls" is
// "usr/bin/ls", "/" is ".". p must be clean and absolute.
func Rel(p string) string {
	r := strings.TrimLeft(p, "/")
	if r == "" {
		return "."
	}
	return r
}

// Open opens rel beneath dirfd with flags (O_CLOEXEC added), following no
// symlink on the way. A symlink as the last component is ELOOP unless
// flags has O_PATH|O_NOFOLLOW, as openat2 does it.
func Open(dirfd int, rel string, flags int, mode uint32) (int, error) {
	return OpenResolve(dirfd, rel, flags, mode, 0)
}

// OpenResolve is Open with more RESOLVE_ flags on top of its own (the
// view's upper layer adds RESOLVE_NO_XDEV: it is one file system).
func OpenResolve(dirfd int, rel string, flags int, mode uint32, more uint64) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolve | more}
	if flags&unix.O_CREAT != 0 || flags&unix.O_TMPFILE == unix.O_TMPFILE {
		how.Mode = uint64(mode)
	}
	for {
		fd, err := unix.Openat2(dirfd, rel, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			// EAGAIN: a rename raced the walk (RESOLVE_BENEATH's check);
			// the walk is simply done again.
			continue
		}
		return fd, err
	}
}

// OpenDir opens the directory rel beneath dirfd for *at calls, fchmod and
// fchown. A symlink anywhere on the way is ErrSymlink naming where.
func OpenDir(dirfd int, rel string) (int, error) {
	// No O_NOFOLLOW: with it a last component that is a link is ENOTDIR,
	// without it RESOLVE_NO_SYMLINKS makes it ELOOP.
	fd, err := Open(dirfd, rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err == unix.ELOOP || err == unix.ENOTDIR {
		if serr := symlinkAt(dirfd, rel); serr != nil {
			return -1, serr
		}
	}
	return fd, err
}

// MkdirAll opens the directory rel beneath dirfd, making the directories
// of it that are missing with mode 0700 and calling made on each new one
// (to give it its owner and mode through its descriptor; nil leaves them
// root's and 0755). A component that exists and is a symlink is never
// followed: ErrSymlink, naming the path up to it.
func MkdirAll(dirfd int, rel string, made func(fd int, path string) error) (int, error) {
	cur, err := unix.Dup(dirfd)
	if err != nil {
		return -1, fmt.Errorf("dup: %w", err)
	}
	done := ""
	for _, c := range strings.Split(rel, "/") {
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			unix.Close(cur)
			return -1, fmt.Errorf("%s: \"..\" in a path that must be clean", rel)
		}
		done = joinRel(done, c)
		next, err := OpenDir(cur, c)
		if err == unix.ENOENT {
			if err = unix.Mkdirat(cur, c, 0o700); err != nil && err != unix.EEXIST {
				unix.Close(cur)
				return -1, fmt.Errorf("mkdir /%s: %w", done, err)
			}
			created := err == nil
			if next, err = OpenDir(cur, c); err == nil && created {
				if made == nil {
					err = unix.Fchmod(next, 0o755)
				} else {
					err = made(next, "/"+done)
				}
				if err != nil {
					unix.Close(next)
				}
			}
		}
		unix.Close(cur)
		if err != nil {
			if errors.Is(err, ErrSymlink) {
				return -1, fmt.Errorf("/%s %w", done, ErrSymlink)
			}
			return -1, fmt.Errorf("/%s: %w", done, err)
		}
		cur = next
	}
	return cur, nil
}

// symlinkAt finds the first component of rel beneath dirfd that is a
// symlink, for the message; nil when there is none (the lookup failed
// for another reason).
func symlinkAt(dirfd int, rel string) error {
	done := ""
	for _, c := range strings.Split(rel, "/") {
		if c == "" || c == "." {
			continue
		}
		done = joinRel(done, c)
		var st unix.Stat_t
		if unix.Fstatat(dirfd, done, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return fmt.Errorf("/%s %w", done, ErrSymlink)
		}
	}
	return nil
}

func joinRel(a, b string) string {
	if a == "" {
		return b
	}
	return a + "/" + b
}

// Lstat is the attributes of rel beneath dirfd itself (a symlink as the
// last component is the link's), reached through no symlink.
func Lstat(dirfd int, rel string) (unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := Open(dirfd, rel, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return st, err
	}
	defer unix.Close(fd)
	err = unix.Fstat(fd, &st)
	return st, err
}

// Futimens sets the access and modification times of the file open at fd.
func Futimens(fd int, ts [2]unix.Timespec) error {
	return unix.UtimesNanoAt(fd, "", ts[:], unix.AT_EMPTY_PATH)
}
