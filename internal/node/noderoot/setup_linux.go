package noderoot

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// stage is where the new root is built before pivot_root. It is /tmp
// because /tmp exists on every Linux system and is one of the names the node
// never takes from the master (it gets a /tmp of its own): covering it hides
// nothing the master view binds, and binding the master's directories can
// never reach into the new root. /mnt would be wrong: it is part of the
// master view, so binding /mnt would bind the new root into itself.
// Covering /tmp touches only this namespace because step 1 made all of its
// mounts private; after pivot_root the tmpfs is "/" and /tmp is gone from
// the node's view.
const stage = "/tmp"

// Setup turns the caller's mount namespace into a diskless node's root and
// sets the hostname. It must be called by PID 1 of new PID and mount
// namespaces (a new UTS namespace too, or the hostname changes the
// master's); it checks the first two and returns ErrNotPID1 or
// ErrSharedMountNS, having changed nothing, when they do not hold. Bad
// options and a missing binary are also reported before anything changes.
//
// It never changes anything outside the caller's namespaces. When it fails
// halfway the namespace is left half built; the caller should exit, which
// tears it all down.
//
// Afterwards the working directory is "/", and the only writable places are
// the root tmpfs itself, /tmp, /run, /var/tmp, /dev/shm and /dev/pts.
func Setup(o Options) error {
	if err := o.validate(); err != nil {
		return err
	}
	// Open the binary first: its path is in the master's view, which is
	// about to go, and a missing one should fail before anything changed.
	bin, err := openBinary(o.Binary)
	if err != nil {
		return err
	}
	defer bin.Close()
	if err := checkNamespaces(); err != nil {
		return err
	}
	// A symlinked /tmp would put the root wherever it points, possibly
	// inside a directory the master view binds.
	if fi, err := os.Lstat(stage); err != nil {
		return fmt.Errorf("noderoot: the new root is built on %s: %w", stage, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("noderoot: the new root is built on %s: not a directory (%v)", stage, fi.Mode().Type())
	}

	// 1. The host's / is usually shared (systemd makes it so); our mounts
	// are copies in the same peer groups, and without this every mount
	// below would propagate to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("noderoot: make / private: %w", err)
	}
	// 2.
	if err := unix.Sethostname([]byte(o.Hostname)); err != nil {
		return fmt.Errorf("noderoot: sethostname %q: %w", o.Hostname, err)
	}
	// 3.
	if err := unix.Mount("noderoot", stage, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("noderoot: mount tmpfs on %s for the new root: %w", stage, err)
	}
	// 4.
	if err := copyInit(bin, stage+"/init"); err != nil {
		return fmt.Errorf("noderoot: copy %s to /init: %w", o.Binary, err)
	}
	var steps []step
	if o.MasterView {
		// Read the master's / before anything is mounted into the new
		// root; the master's own /tmp is among the skipped names.
		if steps, err = masterView(); err != nil {
			return err
		}
	}
	// 5.
	steps = append(steps, nodeFS(o)...)
	for _, s := range steps {
		if err := s.apply(stage); err != nil {
			return err
		}
	}
	// 6.
	return pivot(stage)
}

// openBinary opens the file that becomes /init and makes sure it is one.
func openBinary(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("noderoot: binary: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("noderoot: binary: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("noderoot: binary %s: not a regular file", path)
	}
	return f, nil
}

func copyInit(src *os.File, dst string) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	// io.Copy between two *os.File uses copy_file_range/sendfile: the bytes
	// do not pass through user space.
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return err
	}
	// The umask may have taken bits off the mode given to open.
	if err := out.Chmod(0o755); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// pivot makes root the root of the namespace and drops the old root.
// pivot_root(".", ".") stacks the old root on top of the new one, at the
// working directory, so no put_old directory has to exist in the new root;
// unmounting "." then removes the old root (MNT_DETACH: with all its
// submounts, even while something still has them open).
func pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("noderoot: chdir %s: %w", root, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("noderoot: pivot_root into %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("noderoot: detach the old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("noderoot: chdir /: %w", err)
	}
	return nil
}
