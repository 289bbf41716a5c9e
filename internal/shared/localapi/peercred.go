// PeerCred tells who is at the other end of a unix socket, as the
// kernel recorded it at connect time (SO_PEERCRED, SO_PEERGROUPS). The master
// decides everything from this, never from what a client says of itself.

package localapi

import (
	"encoding/binary"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Cred is a caller's identity.
type Cred struct {
	PID    int
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups
}

// Get reads the peer credentials of c.
func PeerCred(c *net.UnixConn) (Cred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	var cred Cred
	var opErr error
	err = raw.Control(func(fd uintptr) {
		var uc *unix.Ucred
		uc, opErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if opErr != nil {
			opErr = fmt.Errorf("SO_PEERCRED: %w", opErr)
			return
		}
		cred = Cred{PID: int(uc.Pid), UID: uc.Uid, GID: uc.Gid}
		cred.Groups, opErr = peerGroups(int(fd))
	})
	if err == nil {
		err = opErr
	}
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	return cred, nil
}

// peerGroups reads SO_PEERGROUPS (Linux 4.13+), growing the buffer when the
// kernel says ERANGE.
func peerGroups(fd int) ([]uint32, error) {
	buf := make([]byte, 64*4)
	for {
		n := uint32(len(buf))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		if e == unix.ERANGE && int(n) > len(buf) {
			buf = make([]byte, n)
			continue
		}
		if e != 0 {
			return nil, fmt.Errorf("SO_PEERGROUPS: %w", e)
		}
		groups := make([]uint32, n/4)
		for i := range groups {
			groups[i] = binary.NativeEndian.Uint32(buf[i*4:])
		}
		return groups, nil
	}
}

// PIDFD is a pidfd of the process that connected c (SO_PEERPIDFD, Linux
// 6.5): it refers to that process and no other, even once its PID is
// reused. The caller closes it.
func PeerPIDFD(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("peer credentials: %w", err)
	}
	fd, opErr := -1, error(nil)
	err = raw.Control(func(s uintptr) {
		fd, opErr = unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_PEERPIDFD)
	})
	if err == nil {
		err = opErr
	}
	if err != nil {
		return -1, fmt.Errorf("peer credentials: SO_PEERPIDFD: %w", err)
	}
	return fd, nil
}
