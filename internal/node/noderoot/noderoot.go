// Package noderoot turns the mount namespace of a node daemon into the root
// of a diskless node: an empty tmpfs holding nothing but the bproc binary as
// /init, the master's files visible read-only at the same paths, and the
// node's own /proc, /sys, /dev, /tmp and /run.
//
// It is what makes `bpmaster --local-nodes N` nodes look like netbooted
// machines: bpslave is started as PID 1 of new PID, mount, UTS and IPC
// namespaces and calls Setup before it serves anything.
package noderoot

import (
	"errors"
	"fmt"
	"strings"
)

// Options says what the node's root holds.
type Options struct {
	// Hostname is the node's name ("n3"), set in its private UTS namespace.
	Hostname string
	// Binary is the path, in the master's view, of the bproc binary that is
	// copied to /init (mode 0755). "/proc/self/exe" works. The applet
	// symlinks (/bin/bpsh, ...) are not made.
	Binary string
	// MasterView makes the master's files visible read-only at the same
	// paths (every entry of the master's / except proc, sys, dev, tmp, run,
	// lost+found and init).
	MasterView bool
	// TmpSize is the size= option of each of the node's tmpfs (/tmp,
	// /var/tmp, /run, /dev/shm): "50%", "256m". Empty means
	// DefaultTmpSize.
	TmpSize string
	// TmpUserLimit, if set, is each user's limit on each of those
	// (usrquota_block_hardlimit=, Linux 6.6 and CONFIG_TMPFS_QUOTA):
	// "128m". A kernel without tmpfs quotas mounts them without, and
	// Warn is told so once.
	TmpUserLimit string
	// Warn is told what Setup did other than asked (nil: nothing is said).
	Warn func(msg string)
}

// DefaultTmpSize is the size of /tmp when Options.TmpSize is empty.
const DefaultTmpSize = "50%"

// Errors Setup returns, before it has changed anything, when it is not
// called where it may safely rebuild the root.
var (
	// ErrNotPID1: the caller is not PID 1 of a new PID namespace, so a new
	// /proc would not be the node's.
	ErrNotPID1 = errors.New("noderoot: not PID 1 of a new PID namespace (start the node with CLONE_NEWPID)")
	// ErrSharedMountNS: the caller shares its mount namespace with its
	// parent, so every mount would change the parent's (the master's) view.
	ErrSharedMountNS = errors.New("noderoot: mount namespace is not new (start the node with CLONE_NEWNS)")
)

// maxHostname is the kernel's HOST_NAME_MAX.
const maxHostname = 64

// validate checks what can be checked without touching the system.
func (o Options) validate() error {
	switch {
	case o.Hostname == "":
		return errors.New("noderoot: empty hostname")
	case len(o.Hostname) > maxHostname:
		return fmt.Errorf("noderoot: hostname %q: longer than %d bytes", o.Hostname, maxHostname)
	case strings.ContainsAny(o.Hostname, "/\x00 \t\n"):
		return fmt.Errorf("noderoot: hostname %q: contains a slash, NUL or space", o.Hostname)
	case o.Binary == "":
		return errors.New("noderoot: no binary to copy to /init")
	case strings.ContainsAny(o.TmpSize, ",\x00"):
		// The size goes into the mount data string: a comma would smuggle
		// in other tmpfs options.
		return fmt.Errorf("noderoot: tmp size %q: contains a comma or NUL", o.TmpSize)
	case strings.ContainsAny(o.TmpUserLimit, ",\x00"):
		return fmt.Errorf("noderoot: tmp user limit %q: contains a comma or NUL", o.TmpUserLimit)
	}
	return nil
}

func (o Options) tmpSize() string {
	if o.TmpSize == "" {
		return DefaultTmpSize
	}
	return o.TmpSize
}
