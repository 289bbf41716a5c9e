package elfclosure

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// FS is how Resolve reads the file system. The master reads with the
// caller's credentials, so that the kernel decides what the caller may
// see: every directory passed, every link read and every file opened. An
// FS whose calls run on an asuser.Worker does that; so does OS inside
// asuser.Do, since Resolve reads only on the goroutine that calls it.
type FS interface {
	Open(path string) (*os.File, error)
	Lstat(path string) (fs.FileInfo, error)
	Readlink(path string) (string, error)
}

// OS is the FS of the calling thread's credentials.
type OS struct{}

func (OS) Open(path string) (*os.File, error)     { return os.Open(path) }
func (OS) Lstat(path string) (fs.FileInfo, error) { return os.Lstat(path) }
func (OS) Readlink(path string) (string, error)   { return os.Readlink(path) }

// maxSymlinks is the kernel's MAXSYMLINKS: a walk that follows more fails
// with ELOOP.
const maxSymlinks = 40

// walker resolves paths the way the kernel's path walk does, and
// remembers what it saw, since the loader probes the same directories for
// every library.
type walker struct {
	fsys   FS
	root   string // prefixed to every path handed to fsys
	lstats map[string]lstatResult
	links  map[string]string
}

type lstatResult struct {
	fi  fs.FileInfo
	err error
}

func newWalker(fsys FS, root string) *walker {
	return &walker{fsys: fsys, root: strings.TrimRight(root, "/"),
		lstats: map[string]lstatResult{}, links: map[string]string{}}
}

func (w *walker) lstat(p string) (fs.FileInfo, error) {
	if r, ok := w.lstats[p]; ok {
		return r.fi, r.err
	}
	fi, err := w.fsys.Lstat(w.root + p)
	w.lstats[p] = lstatResult{fi, err}
	return fi, err
}

func (w *walker) readlink(p string) (string, error) {
	if t, ok := w.links[p]; ok {
		return t, nil
	}
	t, err := w.fsys.Readlink(w.root + p)
	if err != nil {
		return "", err
	}
	w.links[p] = t
	return t, nil
}

// walk follows an absolute path component by component, as namei does:
// symlinks are followed (including the last), and ".." goes to the
// parent of the directory actually reached, not of the name written, so
// "/lib/../etc" is /usr/etc when /lib is a link to usr/lib. It returns the
// path with no link left in it, and every directory and link passed on
// the way: a node that recreates those entries at their paths walks the
// same path to the same file. Absolute link targets stay inside root.
func (w *walker) walk(p string) (real string, passed []File, err error) {
	if !strings.HasPrefix(p, "/") {
		return "", nil, &fs.PathError{Op: "walk", Path: p, Err: errors.New("path is not absolute")}
	}
	todo := strings.Split(p, "/")
	cur := "/"
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = dirName(cur)
			continue
		}
		next := joinPath(cur, c)
		fi, err := w.lstat(next)
		if err != nil {
			return "", nil, err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if links++; links > maxSymlinks {
				return "", nil, &fs.PathError{Op: "walk", Path: p, Err: syscall.ELOOP}
			}
			target, err := w.readlink(next)
			if err != nil {
				return "", nil, err
			}
			if target == "" {
				return "", nil, &fs.PathError{Op: "walk", Path: next, Err: syscall.ENOENT}
			}
			passed = append(passed, File{Path: next, Kind: Symlink, Target: target, Mode: fi.Mode()})
			if strings.HasPrefix(target, "/") {
				cur = "/"
			}
			todo = append(strings.Split(target, "/"), todo...)
		case fi.IsDir():
			passed = append(passed, File{Path: next, Kind: Dir, Mode: fi.Mode()})
			cur = next
		default:
			if len(todo) > 0 {
				// "file/" and "file/x" are ENOTDIR, as open(2) says.
				return "", nil, &fs.PathError{Op: "walk", Path: p, Err: syscall.ENOTDIR}
			}
			cur = next
		}
	}
	return cur, passed, nil
}

// open opens a path with no links left in it (from walk): the root
// prefix would otherwise let an absolute link escape it.
func (w *walker) open(real string) (*os.File, error) {
	return w.fsys.Open(w.root + real)
}

// isDir reports whether p leads to a directory.
func (w *walker) isDir(p string) bool {
	real, _, err := w.walk(p)
	if err != nil {
		return false
	}
	fi, err := w.lstat(real)
	return err == nil && fi.IsDir()
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// dirName is everything before the last slash, or "/": the parent of a
// path with no links, "." or ".." in it, and what the loader takes as an
// object's $ORIGIN from the name it opened it by (_dl_new_object).
func dirName(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// absolute makes a path the loader or kernel opens relative to the
// process's working directory absolute. It does not clean it: ".." must
// be walked, not removed.
func absolute(p, cwd string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return strings.TrimRight(cwd, "/") + "/" + p
}

// describe turns an error of a walk or open into the words the kernel and
// the loader use ("No such file or directory").
func describe(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return fmt.Sprint(err)
}
