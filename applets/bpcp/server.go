package bpcp

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/pkg/sftp"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/internal/shared/beneath"
	"github.com/bproc/bproc/internal/shared/sftplist"
)

// serve is the node side: an sftp server on stdin and stdout, running as
// the caller (the node starts it with the caller's uid, gid and groups,
// so the kernel decides what it may read and create). Every path is
// walked from "/" one component at a time (beneath.Walk), following a
// symlink only as beneath.FollowAs allows the caller: root never follows
// another user's link, and no one follows a stranger's link in a sticky
// world-writable directory, whatever the machine's fs.protected_symlinks
// says (namespace nodes share it).
func serve(aio applets.IO) error {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(root)
	// A relative path is the directory bpcp was started in (the node
	// starts the server there).
	start, err := os.Getwd()
	if err != nil {
		start = "/"
	}
	h := &nodeFiles{root: root, follow: beneath.FollowAs(uint32(os.Geteuid()))}
	s := sftp.NewRequestServer(stdio{aio.Stdin, aio.Stdout},
		sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h},
		sftp.WithStartDirectory(start))
	defer s.Close()
	if err := s.Serve(); err != nil && !errors.Is(err, fs.ErrClosed) && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// nodeFiles answers sftp requests on descriptors from beneath.Walk.
type nodeFiles struct {
	root   int // "/", O_PATH
	follow beneath.Follow
}

// walk resolves p to its directory and name there (see beneath.Walk);
// the caller closes dir.
func (n *nodeFiles) walk(p string, followLast bool) (dir int, name string, err error) {
	return beneath.Walk(n.root, p, followLast, n.follow)
}

// open opens p with flags (O_NOFOLLOW added: the walk followed what
// could be followed), creating it with mode.
func (n *nodeFiles) open(p string, flags int, mode uint32) (*os.File, error) {
	dir, name, err := n.walk(p, flags&(unix.O_CREAT|unix.O_EXCL) != unix.O_CREAT|unix.O_EXCL)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dir)
	fd, err := beneath.Open(dir, name, flags|unix.O_NOFOLLOW, mode)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

func (n *nodeFiles) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	return n.open(r.Filepath, unix.O_RDONLY, 0)
}

func (n *nodeFiles) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	pf := r.Pflags()
	flags := unix.O_WRONLY
	if pf.Read {
		flags = unix.O_RDWR
	}
	if pf.Creat {
		flags |= unix.O_CREAT
	}
	if pf.Excl {
		flags |= unix.O_EXCL
	}
	if pf.Trunc {
		flags |= unix.O_TRUNC
	}
	// As sftp's own server: the mode asked for, else 0644 (less umask).
	mode := uint32(0o644)
	if r.AttrFlags().Permissions {
		mode = uint32(r.Attributes().FileMode().Perm())
	}
	return n.open(r.Filepath, flags, mode)
}

func (n *nodeFiles) Filecmd(r *sftp.Request) error {
	switch r.Method {
	case "Setstat":
		return n.setstat(r)
	case "Rename", "PosixRename", "Link":
		return n.twoNames(r)
	case "Mkdir":
		return n.atName(r.Filepath, "mkdir", func(dir int, name string) error { return unix.Mkdirat(dir, name, 0o755) })
	case "Rmdir":
		return n.atName(r.Filepath, "rmdir", func(dir int, name string) error { return unix.Unlinkat(dir, name, unix.AT_REMOVEDIR) })
	case "Remove":
		return n.atName(r.Filepath, "remove", func(dir int, name string) error {
			err := unix.Unlinkat(dir, name, 0)
			if err == unix.EISDIR {
				err = unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
			}
			return err
		})
	case "Symlink":
		// Request.Target is the link to make, Filepath what it points to.
		return n.atName(r.Target, "symlink", func(dir int, name string) error { return unix.Symlinkat(r.Filepath, dir, name) })
	}
	return sftp.ErrSSHFxOpUnsupported
}

// atName does op on the last name of p in its directory, following no
// link at that name.
func (n *nodeFiles) atName(p, op string, do func(dir int, name string) error) error {
	dir, name, err := n.walk(p, false)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	if err := do(dir, name); err != nil {
		return &os.PathError{Op: op, Path: p, Err: err}
	}
	return nil
}

// twoNames renames or links Filepath to Target, directory to directory.
func (n *nodeFiles) twoNames(r *sftp.Request) error {
	from, fromName, err := n.walk(r.Filepath, false)
	if err != nil {
		return err
	}
	defer unix.Close(from)
	to, toName, err := n.walk(r.Target, false)
	if err != nil {
		return err
	}
	defer unix.Close(to)
	if r.Method == "Link" {
		err = unix.Linkat(from, fromName, to, toName, 0)
	} else {
		err = unix.Renameat(from, fromName, to, toName)
	}
	if err != nil {
		return &os.LinkError{Op: r.Method, Old: r.Filepath, New: r.Target, Err: err}
	}
	return nil
}

// setstat changes what the request's attributes say, on a descriptor of
// the file (O_PATH: the caller need not be able to read it).
func (n *nodeFiles) setstat(r *sftp.Request) error {
	dir, name, err := n.walk(r.Filepath, true)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	fd, err := beneath.Open(dir, name, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return &os.PathError{Op: "setstat", Path: r.Filepath, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "setstat", Path: r.Filepath, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		// Put there since the walk: not followed.
		return &os.PathError{Op: "setstat", Path: r.Filepath, Err: unix.ELOOP}
	}
	flags, attrs := r.AttrFlags(), r.Attributes()
	if flags.Size {
		if err := truncate(fd, int64(attrs.Size)); err != nil {
			return &os.PathError{Op: "truncate", Path: r.Filepath, Err: err}
		}
	}
	if flags.Permissions {
		if err := chmodFD(fd, attrs.Mode&0o7777); err != nil {
			return &os.PathError{Op: "chmod", Path: r.Filepath, Err: err}
		}
	}
	if flags.UidGid {
		if err := unix.Fchownat(fd, "", int(attrs.UID), int(attrs.GID), unix.AT_EMPTY_PATH); err != nil {
			return &os.PathError{Op: "chown", Path: r.Filepath, Err: err}
		}
	}
	if flags.Acmodtime {
		ts := [2]unix.Timespec{unix.NsecToTimespec(attrs.AccessTime().UnixNano()), unix.NsecToTimespec(attrs.ModTime().UnixNano())}
		if err := beneath.Futimens(fd, ts); err != nil {
			return &os.PathError{Op: "chtimes", Path: r.Filepath, Err: err}
		}
	}
	return nil
}

// chmodFD sets the mode bits (sftp's mode word has them in its low 12
// bits) of the file open O_PATH at fd.
func chmodFD(fd int, mode uint32) error {
	// fchmodat2 (Linux 6.6) takes the descriptor itself; before it, the
	// descriptor's /proc entry (a magic link to this very inode) does.
	_, _, errno := unix.Syscall6(unix.SYS_FCHMODAT2, uintptr(fd), uintptr(unsafe.Pointer(&empty[0])), uintptr(mode), unix.AT_EMPTY_PATH, 0, 0)
	if errno == 0 {
		return nil
	}
	if errno != unix.ENOSYS && errno != unix.EINVAL && errno != unix.EOPNOTSUPP {
		return errno
	}
	return unix.Chmod(procFD(fd), mode)
}

// empty is "" for a system call.
var empty = [1]byte{0}

// truncate sets the size of the file open O_PATH at fd, through a
// descriptor opened for writing from it.
func truncate(fd int, size int64) error {
	w, err := unix.Open(procFD(fd), unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer unix.Close(w)
	return unix.Ftruncate(w, size)
}

func procFD(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// Filelist lists a directory, or stats a file (following the last link
// as the rule allows, or not for Lstat).
func (n *nodeFiles) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	switch r.Method {
	case "List":
		return n.list(r.Filepath)
	case "Stat", "Lstat":
		fi, err := n.stat(r.Filepath, r.Method == "Stat")
		if err != nil {
			return nil, err
		}
		return sftplist.Entries{fi}, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

func (n *nodeFiles) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	fi, err := n.stat(r.Filepath, false)
	if err != nil {
		return nil, err
	}
	return sftplist.Entries{fi}, nil
}

func (n *nodeFiles) Readlink(p string) (string, error) {
	dir, name, err := n.walk(p, false)
	if err != nil {
		return "", err
	}
	defer unix.Close(dir)
	buf := make([]byte, unix.PathMax)
	l, err := unix.Readlinkat(dir, name, buf)
	if err != nil {
		return "", &os.PathError{Op: "readlink", Path: p, Err: err}
	}
	return string(buf[:l]), nil
}

func (n *nodeFiles) stat(p string, follow bool) (fs.FileInfo, error) {
	dir, name, err := n.walk(p, follow)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dir)
	var st unix.Stat_t
	if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &os.PathError{Op: "stat", Path: p, Err: err}
	}
	return statInfo(path.Base(p), &st), nil
}

func (n *nodeFiles) list(p string) (sftp.ListerAt, error) {
	f, err := n.open(p, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, &os.PathError{Op: "readdir", Path: p, Err: errors.Unwrap(err)}
	}
	out := make(sftplist.Entries, 0, len(names))
	for _, e := range names {
		var st unix.Stat_t
		if unix.Fstatat(int(f.Fd()), e, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			out = append(out, statInfo(e, &st))
		}
	}
	return out, nil
}

// fileInfo is fs.FileInfo from a stat; Sys is a *syscall.Stat_t, from
// which sftp takes the owner.
type fileInfo struct {
	name string
	st   syscall.Stat_t
}

func statInfo(name string, st *unix.Stat_t) fs.FileInfo {
	return &fileInfo{name: name, st: syscall.Stat_t{
		Mode: st.Mode, Uid: st.Uid, Gid: st.Gid, Size: st.Size,
		Atim: syscall.Timespec(st.Atim), Mtim: syscall.Timespec(st.Mtim),
	}}
}

func (f *fileInfo) Name() string       { return f.name }
func (f *fileInfo) Size() int64        { return f.st.Size }
func (f *fileInfo) ModTime() time.Time { return time.Unix(f.st.Mtim.Unix()) }
func (f *fileInfo) IsDir() bool        { return f.Mode().IsDir() }
func (f *fileInfo) Sys() any           { return &f.st }
func (f *fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(f.st.Mode & 0o777)
	switch f.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	if f.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if f.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if f.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
