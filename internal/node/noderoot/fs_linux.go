package noderoot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// The node's root is a list of small steps applied in order under the new
// root. Paths are the node's ("/dev/pts"); errors name them that way.
type step interface {
	apply(root string) error
}

// mountFS mounts a new file system, making the mount point first.
type mountFS struct {
	path   string
	fstype string
	flags  uintptr
	data   string
	// ifDir mounts only over a directory that is already there (inside a
	// read-only bind, where nothing can be made) and skips otherwise.
	ifDir bool
	// quota, when set, is tried first after data (a tmpfs's per-user
	// limit); a kernel without tmpfs quotas refuses it with EINVAL, and
	// then the mount is made without it and noQuota called.
	quota   string
	noQuota func()
}

func (m mountFS) apply(root string) error {
	dst := root + m.path
	if m.ifDir {
		if !realDir(root, m.path) {
			return nil
		}
	} else if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("noderoot: mkdir %s: %w", m.path, err)
	}
	if m.quota != "" {
		err := unix.Mount(m.fstype, dst, m.fstype, m.flags, m.data+","+m.quota)
		if err != unix.EINVAL {
			if err != nil {
				return fmt.Errorf("noderoot: mount %s on %s: %w", m.fstype, m.path, err)
			}
			return nil
		}
		if m.noQuota != nil {
			m.noQuota()
		}
	}
	if err := unix.Mount(m.fstype, dst, m.fstype, m.flags, m.data); err != nil {
		return fmt.Errorf("noderoot: mount %s on %s: %w", m.fstype, m.path, err)
	}
	return nil
}

// TmpQuota is the tmpfs mount options of a per-user limit (bytes, as
// tmpfs's size= takes them: "128m"), for the node's tmpfs here and for
// the view's /run.
func TmpQuota(limit string) string {
	if limit == "" {
		return ""
	}
	return "usrquota,usrquota_block_hardlimit=" + limit
}

// bind makes src (a directory or a file such as /dev/null, in the master's
// view) visible at path, with everything mounted below it.
type bind struct {
	src, path string
	readOnly  bool // recursively
}

func (b bind) apply(root string) error {
	dst := root + b.path
	fi, err := os.Stat(b.src)
	if err != nil {
		return fmt.Errorf("noderoot: bind %s: %w", b.src, err)
	}
	if fi.IsDir() {
		err = os.MkdirAll(dst, 0o755)
	} else {
		// A file is bound onto an empty file.
		var f *os.File
		if f, err = os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("noderoot: make mount point %s: %w", b.path, err)
	}
	if err := unix.Mount(b.src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("noderoot: bind %s on %s: %w", b.src, b.path, err)
	}
	if b.readOnly {
		return readOnly{path: b.path, recursive: true}.apply(root)
	}
	return nil
}

// readOnly makes a mount read-only, with mount_setattr(2) (Linux 5.12): a
// bind followed by a MS_REMOUNT|MS_BIND|MS_RDONLY remount changes only the
// top mount of the tree, and the submounts a recursive bind brought along
// (/usr/local on its own disk, /sys/fs/cgroup, ...) would stay writable.
// It changes the mount, not the file system: the master still writes there.
type readOnly struct {
	path      string
	recursive bool
}

func (r readOnly) apply(root string) error {
	flags := uint(unix.AT_SYMLINK_NOFOLLOW)
	if r.recursive {
		flags |= unix.AT_RECURSIVE
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(unix.AT_FDCWD, root+r.path, flags, &attr); err != nil {
		if errors.Is(err, unix.ENOSYS) {
			err = fmt.Errorf("%w (mount_setattr needs Linux 5.12)", err)
		}
		return fmt.Errorf("noderoot: make %s read-only: %w", r.path, err)
	}
	return nil
}

type symlink struct {
	path, target string
}

func (s symlink) apply(root string) error {
	if err := os.Symlink(s.target, root+s.path); err != nil {
		return fmt.Errorf("noderoot: symlink %s -> %s: %w", s.path, s.target, err)
	}
	return nil
}

// notFromMaster are the names at the master's / that the node does not see:
// it has its own /proc, /sys, /dev, /tmp and /run, and its own /init. (A
// slice: static data, where a map would be built at every start of the
// binary.)
var notFromMaster = []string{"proc", "sys", "dev", "tmp", "run", "lost+found", "init"}

// masterView lists the steps that show the master's / in the node: a
// directory is bound read-only, a symlink (Debian's /bin -> usr/bin) is made
// again with the same target, files are skipped.
func masterView() ([]step, error) {
	ents, err := os.ReadDir("/")
	if err != nil {
		return nil, fmt.Errorf("noderoot: read the master's /: %w", err)
	}
	var steps []step
	for _, e := range ents {
		name := e.Name()
		if slices.Contains(notFromMaster, name) {
			continue
		}
		p := "/" + name
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return nil, fmt.Errorf("noderoot: master view: %w", err)
			}
			steps = append(steps, symlink{path: p, target: target})
		case e.IsDir():
			steps = append(steps, bind{src: p, path: p, readOnly: true})
		}
	}
	return steps, nil
}

// devices are the host's device nodes a node gets, bound one by one: a
// tmpfs /dev with a few binds shows the node nothing of the host's disks.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// optionalDevices are bound when the host has them: /dev/fuse is what a
// diskless node's view of the master's files is mounted with.
var optionalDevices = []string{"fuse"}

// nodeFS lists the node's own file systems, after the master view.
func nodeFS(o Options) []step {
	const (
		nosuid = unix.MS_NOSUID
		nodev  = unix.MS_NODEV
		noexec = unix.MS_NOEXEC
	)
	tmp := "mode=1777,size=" + o.tmpSize()
	var once sync.Once
	noQuota := func() {
		once.Do(func() {
			if o.Warn != nil {
				o.Warn("tmpfs quotas are not available in this kernel (usrquota refused: CONFIG_TMPFS_QUOTA, Linux 6.6): the node's tmpfs have their size, no per-user limit")
			}
		})
	}
	quota := TmpQuota(o.TmpUserLimit)
	tmpfs := func(p, data string, ifDir bool) mountFS {
		return mountFS{path: p, fstype: "tmpfs", flags: unix.MS_NOSUID | unix.MS_NODEV, data: data, ifDir: ifDir, quota: quota, noQuota: noQuota}
	}
	steps := []step{
		// A procfs mounted by PID 1 of a new PID namespace shows that
		// namespace's processes.
		mountFS{path: "/proc", fstype: "proc", flags: nosuid | nodev | noexec},
		bind{src: "/sys", path: "/sys", readOnly: true},
		// /dev is not nodev: the device binds below are mounts of their own
		// and keep the host's flags, but a node may add device nodes later.
		mountFS{path: "/dev", fstype: "tmpfs", flags: nosuid | noexec, data: "mode=0755,size=64k"},
	}
	for _, d := range devices {
		steps = append(steps, bind{src: "/dev/" + d, path: "/dev/" + d})
	}
	for _, d := range optionalDevices {
		if _, err := os.Stat("/dev/" + d); err == nil {
			steps = append(steps, bind{src: "/dev/" + d, path: "/dev/" + d})
		}
	}
	steps = append(steps,
		// A devpts of its own: the node's ptys are numbered from 0 and
		// invisible to the host's. ptmxmode=0666 because the instance's
		// ptmx is what /dev/ptmx points at; gid=5 is "tty".
		mountFS{path: "/dev/pts", fstype: "devpts", flags: nosuid | noexec,
			data: "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		symlink{path: "/dev/ptmx", target: "pts/ptmx"},
		symlink{path: "/dev/fd", target: "/proc/self/fd"},
		symlink{path: "/dev/stdin", target: "/proc/self/fd/0"},
		symlink{path: "/dev/stdout", target: "/proc/self/fd/1"},
		symlink{path: "/dev/stderr", target: "/proc/self/fd/2"},
		tmpfs("/dev/shm", tmp, false),
		// /dev itself is sealed once it is filled; its submounts (the
		// devices, /dev/pts, /dev/shm) keep their own flags. A node that
		// needs another device clears MOUNT_ATTR_RDONLY first.
		readOnly{path: "/dev"},
		tmpfs("/tmp", tmp, false),
		// The node's /run holds the daemon's state: the view's copies of
		// the master's files (cachesize) and its upper layer, which users
		// write to. Its size bounds both.
		tmpfs("/run", "mode=0755,size="+o.tmpSize(), false),
		// Programs write to /var/tmp too; with the master view /var is
		// read-only. Without it there is no /var to put it in.
		tmpfs("/var/tmp", tmp, true),
	)
	return steps
}

// realDir reports whether every component of p under root is a directory,
// not a symlink. A mount follows symlinks from the current root (the
// master's, until the pivot), so mounting over a symlinked /var/tmp ->
// /tmp inside the master view would cover the staging root instead.
func realDir(root, p string) bool {
	dir := root
	for _, c := range splitPath(p) {
		dir += "/" + c
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

func splitPath(p string) []string {
	var out []string
	for p = path.Clean("/" + p); p != "/"; p = path.Dir(p) {
		out = append([]string{path.Base(p)}, out...)
	}
	return out
}
