package nodeview

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/bproc/bproc/internal/shared/asuser"
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
		if g, err := procGroups(fmt.Sprintf("/proc/%d/status", c.Pid), c.Uid, c.Gid); err == nil {
			cred.Groups = g
		}
	}
	return cred
}

const nobodyID = 65534

// procGroups reads the Groups line of a /proc status file, if its fs uid
// and fs gid are uid and gid.
func procGroups(status string, uid, gid uint32) ([]uint32, error) {
	f, err := os.Open(status)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var groups []uint32
	seen := 0
	s := bufio.NewScanner(f)
	for s.Scan() {
		key, val, _ := strings.Cut(s.Text(), ":")
		fields := strings.Fields(val)
		switch key {
		case "Uid", "Gid":
			// real, effective, saved, fs
			want := uid
			if key == "Gid" {
				want = gid
			}
			if len(fields) != 4 || fields[3] != strconv.FormatUint(uint64(want), 10) {
				return nil, fmt.Errorf("%s: %s is not the caller's", status, key)
			}
			seen++
		case "Groups":
			groups = make([]uint32, 0, len(fields))
			for _, g := range fields {
				n, err := strconv.ParseUint(g, 10, 32)
				if err != nil {
					return nil, fmt.Errorf("%s: group %q: %w", status, g, err)
				}
				groups = append(groups, uint32(n))
			}
			seen++
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	if seen != 3 {
		return nil, fmt.Errorf("%s: no Uid, Gid and Groups lines", status)
	}
	return groups, nil
}

// asCaller runs fn with the credentials of the request's caller, on a
// thread of its own that ends with it (package asuser): what fn makes is
// the caller's, and the node's kernel decides what the caller may do, as
// for any file system, before anything is changed.
func asCaller(ctx context.Context, fn func() error) syscall.Errno {
	return toErrno(asuser.Do(callerCred(ctx), fn))
}
