package nodeview

import (
	"context"
	"os"
	"strconv"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// fromSelf says whether a request comes from a thread of this process:
// go-fuse's mount opens a file in the new mount (its "poll hack"), and the
// writable view's default_permissions make the kernel ask for the root's
// attributes on that walk. Asked of the master, that was a session as
// root, which a master refuses, before the node's hello only after waiting
// for it (boots took 5 s longer); and a view killed while its own thread
// waited in the walk never ended: the request read by another of its
// threads, which died, and /dev/fuse closed only once the waiting thread
// was gone. A node's view stuck so (state D) kept a stopping master
// waiting for its node for good. The root's attributes for this process
// are answered here, with no cache time (every other caller's come from
// the master). A request's PID is the calling thread's, in the PID
// namespace of the mount.
func fromSelf(ctx context.Context) bool {
	c, ok := fuse.FromContext(ctx)
	if !ok || c.Pid == 0 || c.Uid != uint32(os.Geteuid()) {
		return false
	}
	_, err := os.Stat("/proc/self/task/" + strconv.FormatUint(uint64(c.Pid), 10))
	return err == nil
}
