package ghost

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/bproc/bproc/internal/shared/spawn"
)

// TestStartWithoutClone3: where clone3 is refused (a node's process
// space fails it with ENOSYS, an old kernel too) the ghost is started
// with clone all the same, and says hello; a failure in spawn's child is
// not taken for that.
func TestStartWithoutClone3(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSYS, syscall.EINVAL} {
		t.Run(errno.Error(), func(t *testing.T) {
			spawnStart = func(a spawn.Attr) (int, int, error) {
				return 0, -1, fmt.Errorf("spawn %s: clone3: %w", a.Path, errno)
			}
			defer func() { spawnStart = spawn.Start }()
			ln := listen(t)
			tok := newToken(t)
			p := start(t, attr{Argv: []string{"no-clone3"}, Socket: ln.Addr().String(), Token: tok})
			if _, h := accept(t, ln); h.Token != tok {
				t.Errorf("hello token %v, want %v", h.Token, tok)
			}
			syscall.Kill(p.pid, syscall.SIGKILL)
			p.wait(t, 0)
		})
	}
	if noClone3(&spawn.ChildError{Step: "execve", Errno: syscall.EINVAL}) {
		t.Error("an execve's EINVAL in the child taken for clone3 refused")
	}
	if noClone3(nil) || noClone3(os.ErrNotExist) {
		t.Error("noClone3 true for nil or an unrelated error")
	}
}
