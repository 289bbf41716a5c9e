package beneath

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// maxLinks is how many symlinks one walk follows before it gives up with
// ELOOP, as the kernel does (MAXSYMLINKS).
const maxLinks = 40

// Follow is a walk's rule for the symlinks it meets: nil when the link
// at path (its attributes link, those of the directory holding it dir)
// may be followed, else the error that says why not.
type Follow func(path string, link, dir *unix.Stat_t) error

// RefusedLink is a symlink a Follow rule would not follow.
type RefusedLink struct {
	Path     string
	Owner    uint32 // the link's
	Follower uint32 // the uid walking
	Sticky   bool   // refused for being in a sticky world-writable directory
}

func (e *RefusedLink) Error() string {
	if e.Follower == 0 {
		return fmt.Sprintf("%s: symlink owned by uid %d; not following it as root", e.Path, e.Owner)
	}
	return fmt.Sprintf("%s: symlink owned by uid %d in a sticky world-writable directory; not following it as uid %d", e.Path, e.Owner, e.Follower)
}

// FollowAs is the rule for code acting as uid on paths other users can
// change, whatever the machine's fs.protected_symlinks says (namespace
// nodes share the machine's, which may be 0). A link is followed when
// uid or root owns it, or, as protected_symlinks has it, when it is not
// in a sticky world-writable directory or the directory's owner owns it.
// Root follows no link of another user anywhere: a user's link in the
// user's own directory (which protected_symlinks would follow) must not
// send root's write to /etc.
func FollowAs(uid uint32) Follow {
	return func(p string, link, dir *unix.Stat_t) error {
		switch {
		case link.Uid == uid || link.Uid == 0:
			return nil
		case uid == 0:
			return &RefusedLink{Path: p, Owner: link.Uid, Follower: uid}
		case !stickyWorldWritable(dir) || link.Uid == dir.Uid:
			return nil
		}
		return &RefusedLink{Path: p, Owner: link.Uid, Follower: uid, Sticky: true}
	}
}

func stickyWorldWritable(dir *unix.Stat_t) bool {
	return dir.Mode&unix.S_ISVTX != 0 && dir.Mode&0o002 != 0
}

// Walk resolves the absolute path p from root (a descriptor of "/" or of
// a root the caller stands in), one component at a time, following a
// symlink only when follow allows it, and the last component's only if
// followLast. It returns the directory holding the last component, open
// O_PATH, and the name there ("." when p ends at a directory by "/",
// "." or ".."); the name need not exist, so a walk for a file to create
// ends at its directory. The caller acts on the name with calls that
// follow no link (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, renameat, unlinkat):
// a link put there after the walk is then refused, never followed.
func Walk(root int, p string, followLast bool, follow Follow) (dir int, name string, err error) {
	if !path.IsAbs(p) {
		return -1, "", &os.PathError{Op: "walk", Path: p, Err: errors.New("not an absolute path")}
	}
	top, err := unix.Dup(root)
	if err != nil {
		return -1, "", fmt.Errorf("dup: %w", err)
	}
	// stack holds the directories walked through, so that ".." is the
	// parent the walk came from (never above root), names their paths.
	stack, names := []int{top}, []string{"/"}
	defer func() {
		for _, fd := range stack {
			if fd != dir {
				unix.Close(fd)
			}
		}
	}()
	todo := components(p)
	links := 0
	for {
		cur, curName := stack[len(stack)-1], names[len(names)-1]
		if len(todo) == 0 {
			return cur, ".", nil
		}
		c := todo[0]
		todo = todo[1:]
		last := len(todo) == 0
		switch {
		case c == ".":
			continue
		case c == "..":
			if len(stack) > 1 {
				unix.Close(cur)
				stack, names = stack[:len(stack)-1], names[:len(names)-1]
			}
			continue
		case last && !followLast:
			return cur, c, nil
		}
		here := path.Join(curName, c)
		fd, err := Open(cur, c, unix.O_PATH|unix.O_NOFOLLOW, 0)
		if err == unix.ENOENT && last {
			return cur, c, nil
		}
		if err != nil {
			return -1, "", &os.PathError{Op: "walk", Path: here, Err: err}
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, "", &os.PathError{Op: "stat", Path: here, Err: err}
		}
		switch {
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
			target, err := followed(cur, fd, here, &st, follow, &links)
			unix.Close(fd)
			if err != nil {
				return -1, "", err
			}
			if path.IsAbs(target) {
				for _, d := range stack[1:] {
					unix.Close(d)
				}
				stack, names = stack[:1], names[:1]
			}
			todo = append(components(target), todo...)
		case last:
			unix.Close(fd)
			return cur, c, nil
		case st.Mode&unix.S_IFMT != unix.S_IFDIR:
			unix.Close(fd)
			return -1, "", &os.PathError{Op: "walk", Path: here, Err: unix.ENOTDIR}
		default:
			stack, names = append(stack, fd), append(names, here)
		}
	}
}

// followed is the target of the link open at fd (path here, in the
// directory cur), if follow allows it.
func followed(cur, fd int, here string, st *unix.Stat_t, follow Follow, links *int) (string, error) {
	if *links++; *links > maxLinks {
		return "", &os.PathError{Op: "walk", Path: here, Err: unix.ELOOP}
	}
	var dst unix.Stat_t
	if err := unix.Fstat(cur, &dst); err != nil {
		return "", &os.PathError{Op: "stat", Path: path.Dir(here), Err: err}
	}
	if err := follow(here, st, &dst); err != nil {
		return "", err
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", &os.PathError{Op: "readlink", Path: here, Err: err}
	}
	if n == 0 {
		return "", &os.PathError{Op: "readlink", Path: here, Err: unix.ENOENT}
	}
	return string(buf[:n]), nil
}

// components are p's names, empty ones (from "//" and the leading "/")
// left out.
func components(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}
