package nodeview

import (
	"errors"
	"fmt"
	"log"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Mount mounts a view of the master's files at dir, an existing directory.
//
// The caller must be root (it mounts with mount(2) itself; there is no
// fusermount on a node) and /dev/fuse must exist in its mount namespace.
// The mount is read-only, nosuid (a setuid file of the master gives no
// privilege on the node) and nodev, with allow_other and without
// default_permissions: see the package comment.
func Mount(dir string, opts Options) (*View, error) {
	v, err := newView(dir, opts)
	if err != nil {
		return nil, err
	}
	t, long := v.short, v.long
	root := &node{v: v}
	flags := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV)
	var extra []string
	if v.upper != "" {
		up, err := openUpperFS(v.upper)
		if err != nil {
			v.sessions.close()
			return nil, err
		}
		v.up = up
		// Writable, and the node's kernel judges permissions by the
		// attributes shown (see upper.go).
		flags &^= unix.MS_RDONLY
		extra = append(extra, "default_permissions")
	}
	fo := &fs.Options{
		MountOptions: fuse.MountOptions{
			AllowOther: true,
			// Only mount(2): fusermount is not on a diskless node, and
			// falling back to it would hide why the mount failed.
			DirectMountStrict: true,
			DirectMountFlags:  flags,
			Options:           extra,
			FsName:            "bproc-master:" + v.root,
			Name:              "bproc",
			// READDIRPLUS would stat every entry of every directory listed,
			// one round trip each; a program that needs them asks.
			DisableReadDirPlus: true,
			// SFTP version 3 carries no extended attributes. ENOSYS once
			// stops the kernel asking for each file.
			DisableXAttrs: true,
			// Kernel requests (readahead) with no user behind them.
			MaxBackground: 64,
			// A link's target is kept with its inode: a link the master
			// does not watch gets a new inode at each lookup (Lookup),
			// one it watches is dropped when told (Invalidate).
			EnableSymlinkCaching: true,
		},
		// Each answer sets its own (entryTimeouts); these are for the
		// rest (the upper layer's entries). A missing name is kept only
		// where Lookup lets it: in a directory the master watches.
		EntryTimeout:    &t,
		AttrTimeout:     &t,
		NegativeTimeout: &long,
	}
	if opts.requestLog != nil {
		fo.MountOptions.Debug = true
		fo.MountOptions.Logger = log.New(opts.requestLog, "", 0)
	}
	server, err := fs.Mount(dir, root, fo)
	if err != nil {
		v.sessions.close()
		v.closeUpper()
		if errors.Is(err, syscall.ENOENT) {
			err = fmt.Errorf("%w (is there a /dev/fuse?)", err)
		}
		return nil, fmt.Errorf("nodeview: mount %s on %s: %w", v.root, dir, err)
	}
	v.server = server
	v.invalMu.Lock()
	v.rootIn = &root.Inode
	v.invalMu.Unlock()
	return v, nil
}

// Unmount unmounts v and closes its sessions. A view still in use (an open
// file, a working directory in it) is detached from the tree instead: it
// disappears from the mount table now and ends when the last of its files
// is closed, as umount -l does.
func (v *View) Unmount() error {
	if v.server == nil {
		return nil
	}
	// Server.Unmount retries a busy mount for a moment before it gives up.
	err := v.server.Unmount()
	if err != nil {
		if derr := unix.Unmount(v.dir, unix.MNT_DETACH); derr != nil && !errors.Is(derr, unix.EINVAL) {
			return fmt.Errorf("nodeview: unmount %s: %w (and detaching: %v)", v.dir, err, derr)
		}
		// The detached view still serves the files that are open (and the
		// working directories in it, whose lookups need sessions) until
		// the kernel ends it.
		server := v.server
		go func() {
			server.Wait()
			v.sessions.close()
			v.closeUpper()
		}()
		v.server = nil
		return nil
	}
	v.server = nil
	v.sessions.close()
	v.closeUpper()
	return nil
}

// closeUpper closes the upper directory's descriptor, once nothing is
// served any more.
func (v *View) closeUpper() {
	if v.up != nil {
		v.up.close()
	}
}
