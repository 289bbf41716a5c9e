package nodeview

import (
	"sync/atomic"
	"testing"

	"github.com/pkg/sftp"
)

// TestMountAsksNothing: mounting a view walks nothing through it. go-fuse's
// own mount opened a file in the new mount, and with the writable view's
// default_permissions the kernel asked the view for the root's attributes
// on that walk: a session as root, which a master refuses before the
// node's hello, from the view's own process, which then could not be
// killed while it waited.
func TestMountAsksNothing(t *testing.T) {
	var dials atomic.Int32
	tv := mountTest(t, Options{Upper: t.TempDir()}, func(master string, o *Options) {
		d := &dialer{}
		t.Cleanup(d.killAll)
		o.Dial = func(uid, gid uint32) (*sftp.Client, error) {
			dials.Add(1)
			return d.dial(uid, gid)
		}
	})
	if n := dials.Load(); n != 0 {
		t.Errorf("mounting the view opened %d sessions with the master; want none", n)
	}
	// Still a working view.
	tv.write(t, "f", "x", 0o644)
	if out, e := asUser(t, nobody, "read", tv.path("f")); e != 0 || out != "x" {
		t.Errorf("read through the view as nobody: %q, errno %d", out, e)
	}
}
