package nodeview

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/bproc/bproc/internal/shared/asuser"
	"github.com/bproc/bproc/internal/shared/procfs"
)

// callerCred is who made a FUSE request, to act as in the upper layer:
// the uid and gid the kernel puts in the request, and the caller's
// supplementary groups, which FUSE does not carry, from /proc/PID/status.
// Those count only while the process there is still the caller (its fs
// uid and gid are the request's): a process that ended, or a PID already
// reused by another user, gives no groups, which can only refuse more.
func callerCred(ctx context.Context) asuser.Cred {
	c, ok := fuse.FromContext(ctx)
	if !ok {
		// Every request from the kernel has a caller; this is not reached.
		return asuser.Cred{UID: nobodyID, GID: nobodyID}
	}
	cred := asuser.Cred{UID: c.Uid, GID: c.Gid, Groups: []uint32{}}
	if c.Pid != 0 {
		if st, err := procfs.ReadStatusGroups(int(c.Pid)); err == nil {
			if g, ok := callerGroups(st, c.Uid, c.Gid); ok {
				cred.Groups = g
			}
		}
	}
	return cred
}

const nobodyID = 65534

// callerGroups is the groups of the process of status st if its fs uid
// and fs gid are uid and gid.
func callerGroups(st procfs.Status, uid, gid uint32) ([]uint32, bool) {
	if st.UID[3] != uid || st.GID[3] != gid {
		return nil, false
	}
	return st.Groups, true
}

// asCaller runs fn with the credentials of the request's caller, on a
// thread of its own that ends with it (package asuser): what fn makes is
// the caller's, and the node's kernel decides what the caller may do, as
// for any file system, before anything is changed.
func asCaller(ctx context.Context, fn func() error) syscall.Errno {
	return toErrno(asuser.Do(callerCred(ctx), fn))
}
